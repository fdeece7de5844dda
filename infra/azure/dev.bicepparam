// dev: public endpoints (identity-only auth), Flex Consumption, small retention.
using 'main.bicep'

param environment = 'dev'
param owner = 'platform-team'
param hostingPlan = 'FlexConsumption'
param maximumInstanceCount = 40
param publicNetworkAccess = 'Enabled'
param serviceBusSku = 'Standard'
param serviceBusMaxDeliveryCount = 5
param duplicateDetectionWindow = 'PT1H'
param storageSku = 'Standard_LRS'
param logRetentionDays = 30
param recoveryVaultName = 'ec2mig-dev-vault'
param recoveryVaultResourceGroup = 'ec2mig-dev-migrate'
param migrationTargetResourceGroups = ['ec2mig-dev-target']
param cacheStorageAccounts = [
  { resourceGroup: 'ec2mig-dev-migrate', name: 'ec2migdevcache' }
]
param replicationVirtualNetworks = [
  { resourceGroup: 'ec2mig-dev-network', name: 'ec2mig-dev-vnet' }
  { resourceGroup: 'ec2mig-dev-network', name: 'ec2mig-dev-test-vnet' }
]
param migrateProjectResourceGroup = 'ec2mig-dev-migrate'
param awsRegion = 'eu-west-1'
param awsInvokerRoleArn = readEnvironmentVariable('AWS_INVOKER_ROLE_ARN', 'arn:aws:iam::000000000000:role/ec2mig-dev-azure-invoker')
param awsFederationAudience = 'api://ec2mig-aws-federation-dev'
param operatorsGroupObjectId = readEnvironmentVariable('OPERATORS_GROUP_OBJECT_ID', '')
// Application (client) ID of the operator API's app registration (docs/deploy.md 1.8); App Service authentication
// of the HTTP API accepts tokens for it only. No default: a deployment without it fails before anything changes.
param operatorApiClientId = readEnvironmentVariable('OPERATOR_API_CLIENT_ID')
