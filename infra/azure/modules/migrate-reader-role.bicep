// Reader on the Azure Migrate project's resource group: the pipeline reads the machines the appliance discovered
// (Microsoft.OffAzure/ServerSites/read, .../machines/read). The discovery site is created when the appliance
// registers, so its name is not known here; its group is.
param principalId string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, reader)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
  }
}
