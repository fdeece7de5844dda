// Site Recovery Contributor on the one Recovery Services vault the pipeline drives (deployed in the vault's group).
param principalId string
param vaultName string

var siteRecoveryContributor = '6670b86e-a3f7-4917-ac9b-5d6ab1be4567'

resource vault 'Microsoft.RecoveryServices/vaults@2024-04-01' existing = {
  name: vaultName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, siteRecoveryContributor)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', siteRecoveryContributor)
  }
}
