// test: public endpoints (identity-only auth), Flex Consumption, zone-redundant storage, longer retention.
using 'main.bicep'

param environment = 'test'
param owner = 'platform-team'
param hostingPlan = 'FlexConsumption'
param maximumInstanceCount = 40
param publicNetworkAccess = 'Enabled'
param serviceBusSku = 'Standard'
param serviceBusMaxDeliveryCount = 5
param duplicateDetectionWindow = 'PT1H'
param storageSku = 'Standard_ZRS'
param logRetentionDays = 60
param recoveryVaultName = 'ec2mig-test-vault'
param recoveryVaultResourceGroup = 'ec2mig-test-migrate'
param migrationTargetResourceGroups = ['ec2mig-test-target']
param cacheStorageAccounts = [
  { resourceGroup: 'ec2mig-test-migrate', name: 'ec2migtestcache' }
]
param replicationVirtualNetworks = [
  { resourceGroup: 'ec2mig-test-network', name: 'ec2mig-test-vnet' }
  { resourceGroup: 'ec2mig-test-network', name: 'ec2mig-test-test-vnet' }
]
param migrateProjectResourceGroup = 'ec2mig-test-migrate'
param awsRegion = 'eu-west-1'
param awsInvokerRoleArn = readEnvironmentVariable('AWS_INVOKER_ROLE_ARN', 'arn:aws:iam::000000000000:role/ec2mig-test-azure-invoker')
param awsFederationAudience = 'api://ec2mig-aws-federation-test'
param operatorsGroupObjectId = readEnvironmentVariable('OPERATORS_GROUP_OBJECT_ID', '')
// Application (client) ID of the operator API's app registration (docs/deploy.md 1.8); App Service authentication
// of the HTTP API accepts tokens for it only. No default: a deployment without it fails before anything changes.
param operatorApiClientId = readEnvironmentVariable('OPERATOR_API_CLIENT_ID')
