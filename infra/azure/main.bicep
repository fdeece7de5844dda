// ec2-to-azure, Azure side: the Function App that orchestrates migrations and everything it needs.
// One deployment per environment: az deployment group create -g <rg> -f main.bicep -p <env>.bicepparam
targetScope = 'resourceGroup'

@description('Deployment environment; every name and tag derives from it.')
@allowed(['dev', 'test', 'prod'])
param environment string

@description('Short lowercase prefix of every resource name.')
@minLength(3)
@maxLength(12)
param projectPrefix string = 'ec2mig'

@description('Team or person accountable for the resources (tag "owner").')
@minLength(1)
param owner string

param location string = resourceGroup().location

@description('Function App hosting plan: Flex Consumption (default) or Elastic Premium.')
@allowed(['FlexConsumption', 'ElasticPremium'])
param hostingPlan string = 'FlexConsumption'

@description('Elastic Premium SKU when hostingPlan is ElasticPremium.')
@allowed(['EP1', 'EP2', 'EP3'])
param elasticPremiumSku string = 'EP1'

@description('Flex Consumption: upper bound of instances; Elastic Premium: maximum burst.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Enabled: backing services reachable over their public endpoints (identity still required). Disabled: storage, Service Bus and Key Vault only through private endpoints in a project VNet.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

@description('Address space of the project VNet (used when publicNetworkAccess is Disabled).')
param vnetAddressPrefix string = '10.42.0.0/24'

@description('Subnet (within vnetAddressPrefix) delegated to the Function App for outbound VNet integration.')
param integrationSubnetPrefix string = '10.42.0.0/25'

@description('Subnet (within vnetAddressPrefix) for the private endpoints.')
param privateEndpointSubnetPrefix string = '10.42.0.128/25'

@description('CIDRs allowed to call the Function App HTTP endpoints (status/approve/cancel). Empty: any source (an Entra ID sign-in and a function key still required).')
param allowedInboundCidrs array = []

@allowed(['Standard', 'Premium'])
@description('Service Bus tier; Premium is required for private endpoints.')
param serviceBusSku string = 'Standard'

@minValue(1)
@maxValue(100)
param serviceBusMaxDeliveryCount int = 5

@description('ISO 8601 duration of the duplicate detection window on migration-requests (message id = request id).')
param duplicateDetectionWindow string = 'PT1H'

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GZRS'])
param storageSku string = 'Standard_LRS'

@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Existing Recovery Services vault (created by the Azure Migrate project) the pipeline drives.')
param recoveryVaultName string

@description('Resource group of the Recovery Services vault.')
param recoveryVaultResourceGroup string

@description('Resource groups (this subscription) where migrated VMs land; the identity gets Virtual Machine Contributor there.')
param migrationTargetResourceGroups array = []

@description('Cache storage accounts ({resourceGroup, name}, this subscription) that the first portal replication created; the identity gets read and list keys on each.')
param cacheStorageAccounts array = []

@description('Target and test virtual networks ({resourceGroup, name}, this subscription); the identity gets subnet join on each.')
param replicationVirtualNetworks array = []

@description('Resource group of the Azure Migrate project (its discovery sites); the identity gets Reader there. Empty: none.')
param migrateProjectResourceGroup string = ''

@description('Entra ID group of operators: may send to migration-requests and read its dead-letter queue. Empty: none.')
param operatorsGroupObjectId string = ''

@description('AWS region of the Lambdas.')
param awsRegion string

@description('ARN of the AWS role the Function App assumes (SAM output AzureInvokerRoleArn, name <prefix>-<env>-azure-invoker).')
param awsInvokerRoleArn string

@description('Application ID URI the managed identity requests its token for; the AWS OIDC provider expects it as "aud".')
param awsFederationAudience string

@description('Cron schedule of the replication health check (six fields, UTC).')
param replicationHealthSchedule string = '0 */5 * * * *'

@description('Application (client) ID of the Entra ID app registration of the operator API (docs/deploy.md 1.8). App Service authentication accepts only tokens issued for it (audience api://<id>), so approve and cancel know who asks.')
@minLength(36)
@maxLength(36)
param operatorApiClientId string

@description('Cron schedule of the replication watch: job completions and final syncs the VMs wait for (six fields, UTC).')
param replicationWatchSchedule string = '*/10 * * * * *'
@description('Cron schedule of the discovery watch: machines discovered with their agents registered, for the VMs waiting on that (six fields, UTC).')
param discoveryWatchSchedule string = '0 * * * * *'

param extraTags object = {}

var namePrefix = '${projectPrefix}-${environment}'
// Storage and Key Vault names: lowercase alphanumeric, globally unique, <= 24 characters.
var compactPrefix = take('${projectPrefix}${environment}${uniqueString(resourceGroup().id, environment)}', 22)
var tags = union(extraTags, {
  environment: environment
  owner: owner
  project: projectPrefix
})
var isPrivate = publicNetworkAccess == 'Disabled'

module identity 'modules/identity.bicep' = {
  name: '${namePrefix}-identity'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: '${namePrefix}-monitoring'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module network 'modules/network.bicep' = if (isPrivate) {
  name: '${namePrefix}-network'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    integrationSubnetPrefix: integrationSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
    hostingPlan: hostingPlan
  }
}

module storage 'modules/storage.bicep' = {
  name: '${namePrefix}-storage'
  params: {
    compactPrefix: compactPrefix
    namePrefix: namePrefix
    location: location
    tags: tags
    sku: storageSku
    publicNetworkAccess: publicNetworkAccess
    privateEndpointSubnetId: isPrivate ? network.outputs.privateEndpointSubnetId : ''
    privateDnsZoneIds: isPrivate ? network.outputs.privateDnsZoneIds : {}
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: '${namePrefix}-servicebus'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    sku: isPrivate ? 'Premium' : serviceBusSku
    publicNetworkAccess: publicNetworkAccess
    maxDeliveryCount: serviceBusMaxDeliveryCount
    duplicateDetectionWindow: duplicateDetectionWindow
    privateEndpointSubnetId: isPrivate ? network.outputs.privateEndpointSubnetId : ''
    privateDnsZoneId: isPrivate ? network.outputs.privateDnsZoneIds.servicebus : ''
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: '${namePrefix}-keyvault'
  params: {
    compactPrefix: compactPrefix
    namePrefix: namePrefix
    location: location
    tags: tags
    publicNetworkAccess: publicNetworkAccess
    awsInvokerRoleArn: awsInvokerRoleArn
    privateEndpointSubnetId: isPrivate ? network.outputs.privateEndpointSubnetId : ''
    privateDnsZoneId: isPrivate ? network.outputs.privateDnsZoneIds.vault : ''
  }
}

module roles 'modules/roles.bicep' = {
  name: '${namePrefix}-roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.accountName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    requestsQueueName: serviceBus.outputs.requestsQueueName
    eventsTopicName: serviceBus.outputs.eventsTopicName
    keyVaultName: keyVault.outputs.vaultName
    appInsightsName: monitoring.outputs.appInsightsName
    operatorsGroupObjectId: operatorsGroupObjectId
  }
}

module siteRecoveryRole 'modules/site-recovery-role.bicep' = {
  name: '${namePrefix}-site-recovery-role'
  scope: resourceGroup(recoveryVaultResourceGroup)
  params: {
    principalId: identity.outputs.principalId
    vaultName: recoveryVaultName
  }
}

module targetRoles 'modules/target-rg-role.bicep' = [
  for targetGroup in migrationTargetResourceGroups: {
    name: '${namePrefix}-target-${uniqueString(targetGroup)}'
    scope: resourceGroup(targetGroup)
    params: {
      principalId: identity.outputs.principalId
    }
  }
]

// What enabling replication needs beyond the vault (checked by the wave's readiness step before anything changes).
module cacheAccountRoles 'modules/cache-account-role.bicep' = [
  for account in cacheStorageAccounts: {
    name: '${namePrefix}-cache-${uniqueString(account.resourceGroup, account.name)}'
    scope: resourceGroup(account.resourceGroup)
    params: {
      principalId: identity.outputs.principalId
      storageAccountName: account.name
    }
  }
]

module networkRoles 'modules/vnet-join-role.bicep' = [
  for network in replicationVirtualNetworks: {
    name: '${namePrefix}-vnet-${uniqueString(network.resourceGroup, network.name)}'
    scope: resourceGroup(network.resourceGroup)
    params: {
      principalId: identity.outputs.principalId
      virtualNetworkName: network.name
    }
  }
]

module migrateReader 'modules/migrate-reader-role.bicep' = if (!empty(migrateProjectResourceGroup)) {
  name: '${namePrefix}-migrate-reader'
  scope: resourceGroup(empty(migrateProjectResourceGroup) ? resourceGroup().name : migrateProjectResourceGroup)
  params: {
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: '${namePrefix}-functionapp'
  params: {
    namePrefix: namePrefix
    environment: environment
    location: location
    tags: tags
    hostingPlan: hostingPlan
    elasticPremiumSku: elasticPremiumSku
    maximumInstanceCount: maximumInstanceCount
    identityId: identity.outputs.identityId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.accountName
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    eventsTopicName: serviceBus.outputs.eventsTopicName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    keyVaultName: keyVault.outputs.vaultName
    awsInvokerRoleSecretName: keyVault.outputs.awsInvokerRoleSecretName
    recoveryVaultName: recoveryVaultName
    recoveryVaultResourceGroup: recoveryVaultResourceGroup
    awsRegion: awsRegion
    awsFederationAudience: awsFederationAudience
    replicationHealthSchedule: replicationHealthSchedule
    replicationWatchSchedule: replicationWatchSchedule
    discoveryWatchSchedule: discoveryWatchSchedule
    allowedInboundCidrs: allowedInboundCidrs
    integrationSubnetId: isPrivate ? network.outputs.integrationSubnetId : ''
    operatorApiClientId: operatorApiClientId
  }
  dependsOn: [
    roles
  ]
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output hostingPlan string = hostingPlan
output deploymentContainerUrl string = '${storage.outputs.blobEndpoint}${storage.outputs.deploymentContainerName}'
output managedIdentityPrincipalId string = identity.outputs.principalId
output managedIdentityClientId string = identity.outputs.clientId
output tenantId string = subscription().tenantId
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output keyVaultName string = keyVault.outputs.vaultName
