// Storage for the Functions host and the Durable Functions task hub (queues, tables, blobs) and, on Flex
// Consumption, the deployment package container. Shared keys are disabled: everything uses the managed identity.
param compactPrefix string
param namePrefix string
param location string
param tags object
param sku string
param publicNetworkAccess string
param privateEndpointSubnetId string
param privateDnsZoneIds object

var isPrivate = publicNetworkAccess == 'Disabled'
var deploymentContainerName = 'app-package'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: default action follows publicNetworkAccess (Deny in prod); dev/test Flex apps reach storage publicly with Entra ID only (shared keys disabled)
  // checkov:skip=CKV_AZURE_59: public network access is a per-environment parameter (Disabled in prod.bicepparam)
  // checkov:skip=CKV_AZURE_206: the SKU is a per-environment parameter: ZRS in test and prod, LRS in dev to keep it cheap
  // checkov:skip=CKV_AZURE_43: the name is computed (take(prefix+environment+uniqueString, 22) + 'st'): lowercase alphanumeric, at most 24 characters
  name: '${compactPrefix}st'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: sku
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: isPrivate ? 'Deny' : 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {}
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource endpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for service in ['blob', 'queue', 'table']: if (isPrivate) {
    name: '${namePrefix}-st-${service}-pe'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: privateEndpointSubnetId
      }
      privateLinkServiceConnections: [
        {
          name: '${namePrefix}-st-${service}'
          properties: {
            privateLinkServiceId: account.id
            groupIds: [service]
          }
        }
      ]
    }
  }
]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (service, index) in ['blob', 'queue', 'table']: if (isPrivate) {
    parent: endpoints[index]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: service
          properties: {
            privateDnsZoneId: privateDnsZoneIds[service]
          }
        }
      ]
    }
  }
]

output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
