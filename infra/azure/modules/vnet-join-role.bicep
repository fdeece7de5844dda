// Subnet join on one target or test virtual network: the migrated and test VMs' NICs join its subnets
// (Microsoft.Network/virtualNetworks/read, .../subnets/read, .../subnets/join/action). The narrowest built-in role
// with exactly these (plus usages/read) is "Windows 365 Network User"; Network Contributor would also let the
// identity change or delete the network. Deployed in the VNet's resource group.
param principalId string
param virtualNetworkName string

var windows365NetworkUser = '7eabc9a4-85f7-4f71-b8ab-75daaccc1033'

resource network 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: virtualNetworkName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(network.id, principalId, windows365NetworkUser)
  scope: network
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', windows365NetworkUser)
  }
}
