// Service Bus: the requests queue (duplicate detection on the request id, dead-lettering) and the events topic.
// Local (SAS) authentication is disabled: senders and receivers use Entra ID roles.
param namePrefix string
param location string
param tags object
param sku string
param publicNetworkAccess string
param maxDeliveryCount int
param duplicateDetectionWindow string
param privateEndpointSubnetId string
param privateDnsZoneId string

var isPrivate = publicNetworkAccess == 'Disabled'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${namePrefix}-sb'
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
    capacity: sku == 'Premium' ? 1 : null
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: publicNetworkAccess
  }
}

resource requestsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: 'migration-requests'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: 'P7D'
    maxSizeInMegabytes: 1024
    enableBatchedOperations: true
  }
}

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: 'migration-events'
  properties: {
    // message id = event id: an orchestration's outbox may send a batch again long after the topic took it (an answer
    // lost, then an outage or a long wait before the next try), so the ids are remembered for the longest window
    // Service Bus allows (7 days; the default is 10 minutes).
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P7D'
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    enableBatchedOperations: true
  }
}

// Keeps every event for audit; notification subscribers add their own subscriptions.
resource auditSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: eventsTopic
  name: 'audit'
  properties: {
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: 'P14D'
  }
}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = if (isPrivate) {
  name: '${namePrefix}-sb-pe'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: '${namePrefix}-sb'
        properties: {
          privateLinkServiceId: namespace.id
          groupIds: ['namespace']
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
        name: 'servicebus'
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output requestsQueueName string = requestsQueue.name
output eventsTopicName string = eventsTopic.name
