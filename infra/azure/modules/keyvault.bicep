// Key Vault (RBAC, purge protection) holding the settings the Function App reads through Key Vault references.
param compactPrefix string
param namePrefix string
param location string
param tags object
param publicNetworkAccess string
@description('Not a credential, but kept out of plain app settings; the Function App reads it by reference.')
param awsInvokerRoleArn string
param privateEndpointSubnetId string
param privateDnsZoneId string

var isPrivate = publicNetworkAccess == 'Disabled'
var awsInvokerRoleSecretName = 'aws-invoker-role-arn'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: firewall default action follows publicNetworkAccess (Deny in prod); dev/test have no VNet and App Service is not a trusted service for Key Vault references
  // checkov:skip=CKV_AZURE_189: public network access is a per-environment parameter (Disabled in prod.bicepparam); access is RBAC-only either way
  name: '${compactPrefix}kv'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: isPrivate ? 'Deny' : 'Allow'
    }
  }
}

resource awsInvokerRoleSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: holds a role ARN (configuration, not a credential); it is rewritten by every deployment, an expiry would only break the app
  parent: vault
  name: awsInvokerRoleSecretName
  properties: {
    value: awsInvokerRoleArn
    contentType: 'text/plain; AWS IAM role ARN'
  }
}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = if (isPrivate) {
  name: '${namePrefix}-kv-pe'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: '${namePrefix}-kv'
        properties: {
          privateLinkServiceId: vault.id
          groupIds: ['vault']
        }
      }
    ]
  }
}

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = if (isPrivate) {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output vaultName string = vault.name
output awsInvokerRoleSecretName string = awsInvokerRoleSecret.name
