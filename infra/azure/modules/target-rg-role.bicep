// Virtual Machine Contributor on a migration target resource group: enabling replication and (test) failover
// create VMs, disks and NICs there and join the target subnets.
param principalId string

var virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, virtualMachineContributor)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', virtualMachineContributor)
  }
}
