// Read and list keys on one cache storage account: enabling replication reads the account and lists its keys
// (Microsoft.Storage/storageAccounts/read and .../listKeys/action, Site Recovery's RBAC page). No built-in role has
// exactly these two: Reader gives the read, Storage Account Key Operator Service Role the key listing (and key
// regeneration, which the pipeline never calls). Deployed in the account's resource group.
param principalId string
param storageAccountName string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var storageAccountKeyOperator = '81a9662b-bebf-436f-a333-f67b29880f12'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in [reader, storageAccountKeyOperator]: {
    name: guid(account.id, principalId, roleId)
    scope: account
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]
