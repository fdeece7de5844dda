// The Function App (Python 3.11, v2 programming model) and its plan. Every connection is identity-based:
// AzureWebJobsStorage__*, ServiceBusConnection__* and Application Insights use the user-assigned identity,
// settings that should not sit in plain text come from Key Vault references resolved with the same identity.
param namePrefix string
param environment string
param location string
param tags object
@allowed(['FlexConsumption', 'ElasticPremium'])
param hostingPlan string
param elasticPremiumSku string
param maximumInstanceCount int
param identityId string
param identityClientId string
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param serviceBusFullyQualifiedNamespace string
param eventsTopicName string
param appInsightsConnectionString string
param keyVaultName string
param awsInvokerRoleSecretName string
param recoveryVaultName string
param recoveryVaultResourceGroup string
param awsRegion string
param awsFederationAudience string
param replicationHealthSchedule string
param replicationWatchSchedule string
param discoveryWatchSchedule string
param allowedInboundCidrs array
param integrationSubnetId string
@description('Application (client) ID of the operator API\'s Entra ID app registration (App Service authentication).')
param operatorApiClientId string

var isFlex = hostingPlan == 'FlexConsumption'
// Concurrency per instance, from what the local host measures (BENCHMARKS.md, "Deployed concurrency"):
// - an orchestration episode is CPU-bound (the Durable SDK replaying the history, ~5 ms) and holds the worker's GIL,
//   so one Python worker process per vCPU (FUNCTIONS_WORKER_PROCESS_COUNT, at most 10) and no more orchestrator
//   episodes at once than a few per process: more would only queue for the GIL;
// - an activity mostly waits (ARM, Lambda Invoke, Service Bus): 48 ms real for 4.2 ms of its thread's CPU in the
//   100-VM wave, with every cloud emulated on the same machine (longer waits against real endpoints), so
//   ceil(48 / 4.2) = 12 threads per process (PYTHON_THREADPOOL_THREAD_COUNT, at most 32) keep a core busy while
//   activities wait;
// - activities at once per instance = processes x threads; above that the rate limits bind anyway (the wave paces its
//   VM starts, shared/pacing.py).
// Elastic Premium: EP1/EP2/EP3 have 1/2/4 vCPUs. Flex Consumption (2,048 MB instances, about 1 vCPU) sizes its
// language workers itself and does not take FUNCTIONS_WORKER_PROCESS_COUNT; only the thread pool and Durable's
// limits are set there.
var vcpus = isFlex ? 1 : (elasticPremiumSku == 'EP3' ? 4 : (elasticPremiumSku == 'EP2' ? 2 : 1))
var threadsPerWorker = 12
var activityConcurrency = vcpus * threadsPerWorker
var orchestratorConcurrency = vcpus * 4
// The task hub name is per environment, so environments never share orchestration state.
var taskHubName = '${replace(namePrefix, '-', '')}hub'
var packageUrl = '${storageBlobEndpoint}${deploymentContainerName}'

var commonSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: serviceBusFullyQualifiedNamespace }
  { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
  { name: 'ServiceBusConnection__clientId', value: identityClientId }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'DURABLE_TASK_HUB', value: taskHubName }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions', value: string(activityConcurrency) }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__maxConcurrentOrchestratorFunctions', value: string(orchestratorConcurrency) }
  { name: 'PYTHON_THREADPOOL_THREAD_COUNT', value: string(threadsPerWorker) }
  { name: 'MIGRATION_ENVIRONMENT', value: environment }
  { name: 'MIGRATION_EVENTS_TOPIC', value: eventsTopicName }
  { name: 'REPLICATION_HEALTH_SCHEDULE', value: replicationHealthSchedule }
  { name: 'REPLICATION_WATCH_SCHEDULE', value: replicationWatchSchedule }
  { name: 'DISCOVERY_WATCH_SCHEDULE', value: discoveryWatchSchedule }
  { name: 'SITE_RECOVERY_SUBSCRIPTION_ID', value: subscription().subscriptionId }
  { name: 'SITE_RECOVERY_RESOURCE_GROUP', value: recoveryVaultResourceGroup }
  { name: 'SITE_RECOVERY_VAULT_NAME', value: recoveryVaultName }
  { name: 'AWS_REGION', value: awsRegion }
  { name: 'AWS_ROLE_ARN', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${awsInvokerRoleSecretName})' }
  { name: 'AWS_WEB_IDENTITY_AUDIENCE', value: awsFederationAudience }
  { name: 'AWS_LAMBDA_FUNCTION_PREFIX', value: '${namePrefix}-' }
]
// Elastic Premium declares the runtime in app settings and runs the package from blob storage, fetched with the
// managed identity (no Azure Files content share, hence no storage key). Flex declares both in functionAppConfig.
var premiumSettings = [
  { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
  { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'python' }
  { name: 'WEBSITE_RUN_FROM_PACKAGE', value: '${packageUrl}/${namePrefix}-func.zip' }
  { name: 'WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID', value: identityId }
  { name: 'FUNCTIONS_WORKER_PROCESS_COUNT', value: string(vcpus) }
]

var inboundRules = [
  for (cidr, index) in allowedInboundCidrs: {
    name: 'operators-${index}'
    ipAddress: cidr
    action: 'Allow'
    priority: 100 + index
  }
]

var flexSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}
var premiumSku = {
  name: elasticPremiumSku
  tier: 'ElasticPremium'
}
var flexConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: packageUrl
      authentication: {
        type: 'UserAssignedIdentity'
        userAssignedIdentityResourceId: identityId
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: 2048
  }
  runtime: {
    name: 'python'
    version: '3.11'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: orchestration state lives in (zone-redundant in test/prod) storage and replays on any instance; zone redundancy would triple the always-ready Premium workers
  name: '${namePrefix}-plan'
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? flexSku : premiumSku
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : maximumInstanceCount
    zoneRedundant: false
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: operators call the status/approve/cancel HTTP API; every call needs an Entra ID token (authSettings below) and a function key, and prod restricts it to allowedInboundCidrs
  // checkov:skip=CKV_AZURE_17: client certificates would have to be issued to every operator; callers authenticate with Entra ID tokens (App Service authentication) over TLS 1.2+
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero and Elastic Premium keeps a warm instance; durable state survives instance loss
  // checkov:skip=CKV_AZURE_213: App Service health check needs an HTTP route in the app; the host is watched through Application Insights (heartbeats, failures) and the replication_health timer
  name: '${namePrefix}-func'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(integrationSubnetId) ? null : integrationSubnetId
    vnetRouteAllEnabled: !empty(integrationSubnetId)
    functionAppConfig: isFlex ? flexConfig : null
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|3.11'
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      functionsRuntimeScaleMonitoringEnabled: !isFlex
      ipSecurityRestrictionsDefaultAction: empty(allowedInboundCidrs) ? 'Allow' : 'Deny'
      ipSecurityRestrictions: inboundRules
      appSettings: isFlex ? commonSettings : concat(commonSettings, premiumSettings)
    }
  }
}

// No publishing with basic credentials (FTP or SCM): deployments authenticate with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service authentication ("Easy Auth") in front of the HTTP API: every request needs an Entra ID token issued
// for the operator API's app registration; the platform validates it and passes the caller to the function as
// X-MS-CLIENT-PRINCIPAL(-ID/-NAME), which approve/cancel require (functions/triggers/http.py). Property names follow
// the SiteAuthSettingsV2 schema (Azure/azure-rest-api-specs, specification/web/resource-manager/Microsoft.Web/
// stable/2024-04-01/WebApps.json: platform, globalValidation, identityProviders, login, httpSettings) and
// MicrosoftDocs/azure-docs articles/app-service/configure-authentication-file-based.md (azureActiveDirectory
// registration.openIdIssuer / clientId, validation.allowedAudiences, login.tokenStore.enabled).
// No excluded paths: only the operator routes (/api/waves/...) are HTTP. The Durable client binding reaches the
// extension on its local RPC endpoint (http://127.0.0.1:17071/durabletask/, DurableTaskOptions.LocalRpcEndpointEnabled:
// on by default for non-.NET apps), not through the site's front end, and the app hands out no
// /runtime/webhooks/durabletask URLs; Service Bus and timer triggers are not HTTP requests, which is all the module
// sees ("every incoming HTTP request passes through it", articles/app-service/overview-authentication-authorization.md).
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov matches every sites/config resource as if it were the 'web' site config; these keys do not exist here:
  // checkov:skip=CKV_AZURE_13: checkov reads the V1 authsettings shape (properties.enabled); authsettingsV2 enables authentication in platform.enabled, checked by tests/infra/test_app_authentication.py
  // checkov:skip=CKV_AZURE_63: httpLoggingEnabled is a key of the web site config, not of authsettingsV2; the app logs to Application Insights
  // checkov:skip=CKV_AZURE_65: detailedErrorLoggingEnabled is a key of the web site config, not of authsettingsV2; the app logs to Application Insights
  // checkov:skip=CKV_AZURE_66: requestTracingEnabled is a key of the web site config, not of authsettingsV2; requests are traced in Application Insights
  // checkov:skip=CKV_AZURE_80: netFrameworkVersion is a key of the web site config, not of authsettingsV2; the app runs Python 3.11
  // checkov:skip=CKV_AZURE_88: azureStorageAccounts is a key of the web site config, not of authsettingsV2; the app mounts no Azure Files share
  // checkov:skip=CKV_AZURE_222: publicNetworkAccess is a property of the site, skipped there with its reason; this resource is what requires the Entra ID sign-in
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: operatorApiClientId
          // configure-authentication-provider-aad.md: Issuer URL "<authentication-endpoint>/<tenant-id>/v2.0"
          // (global Azure: https://login.microsoftonline.com); az.environment() because a parameter is named environment.
          openIdIssuer: '${az.environment().authentication.loginEndpoint}${subscription().tenantId}/v2.0'
        }
        validation: {
          // The client ID is always an allowed audience; an API called by other clients adds its Application ID URI.
          allowedAudiences: [
            'api://${operatorApiClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
