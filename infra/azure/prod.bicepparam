// prod: backing services private (VNet integration + private endpoints, Premium Service Bus), Elastic Premium
// (always-warm workers for long waves), zone-redundant storage, operators' networks only on the HTTP API.
using 'main.bicep'

param environment = 'prod'
param owner = 'platform-team'
param hostingPlan = 'ElasticPremium'
param elasticPremiumSku = 'EP1'
param maximumInstanceCount = 20
param publicNetworkAccess = 'Disabled'
param vnetAddressPrefix = '10.42.0.0/24'
param allowedInboundCidrs = ['10.0.0.0/8']
param serviceBusSku = 'Premium'
param serviceBusMaxDeliveryCount = 5
param duplicateDetectionWindow = 'P1D'
param storageSku = 'Standard_ZRS'
param logRetentionDays = 365
param recoveryVaultName = 'ec2mig-prod-vault'
param recoveryVaultResourceGroup = 'ec2mig-prod-migrate'
param migrationTargetResourceGroups = ['ec2mig-prod-target']
param cacheStorageAccounts = [
  { resourceGroup: 'ec2mig-prod-migrate', name: 'ec2migprodcache' }
]
param replicationVirtualNetworks = [
  { resourceGroup: 'ec2mig-prod-network', name: 'ec2mig-prod-vnet' }
  { resourceGroup: 'ec2mig-prod-network', name: 'ec2mig-prod-test-vnet' }
]
param migrateProjectResourceGroup = 'ec2mig-prod-migrate'
param awsRegion = 'eu-west-1'
param awsInvokerRoleArn = readEnvironmentVariable('AWS_INVOKER_ROLE_ARN', 'arn:aws:iam::000000000000:role/ec2mig-prod-azure-invoker')
param awsFederationAudience = 'api://ec2mig-aws-federation-prod'
param operatorsGroupObjectId = readEnvironmentVariable('OPERATORS_GROUP_OBJECT_ID', '')
// Application (client) ID of the operator API's app registration (docs/deploy.md 1.8); App Service authentication
// of the HTTP API accepts tokens for it only. No default: a deployment without it fails before anything changes.
param operatorApiClientId = readEnvironmentVariable('OPERATOR_API_CLIENT_ID')
