// hybridConnection mode: an Azure Relay namespace, one hybrid connection per on-premises endpoint, and the
// function app's link to each. The Hybrid Connection Manager on-premises listens with the `listen` rule's key,
// which you fetch when you install it (docs/deploy.md): it is never an output.
param namespaceName string
param location string
param tags object
param functionAppName string
@description('Each {name, host, port}: name of the hybrid connection, and the on-premises host and port it reaches.')
param endpoints array

resource relay 'Microsoft.Relay/namespaces@2021-11-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
}

resource hybridConnections 'Microsoft.Relay/namespaces/hybridConnections@2021-11-01' = [for endpoint in endpoints: {
  parent: relay
  name: endpoint.name
  properties: {
    requiresClientAuthorization: true
    // App Service and the Hybrid Connection Manager read the endpoint from this metadata item.
    userMetadata: '[{"key":"endpoint","value":"${endpoint.host}:${endpoint.port}"}]'
  }
}]

resource sendRules 'Microsoft.Relay/namespaces/hybridConnections/authorizationRules@2021-11-01' = [for (endpoint, i) in endpoints: {
  parent: hybridConnections[i]
  name: 'send'
  properties: {
    rights: [
      'Send'
    ]
  }
}]

resource listenRules 'Microsoft.Relay/namespaces/hybridConnections/authorizationRules@2021-11-01' = [for (endpoint, i) in endpoints: {
  parent: hybridConnections[i]
  name: 'listen'
  properties: {
    rights: [
      'Listen'
    ]
  }
}]

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// The site side of each hybrid connection. The send key goes into the link (App Service needs it to open the
// relay) and nowhere else.
resource siteLinks 'Microsoft.Web/sites/hybridConnectionNamespaces/relays@2024-04-01' = [for (endpoint, i) in endpoints: {
  name: '${site.name}/${relay.name}/${endpoint.name}'
  properties: {
    serviceBusNamespace: relay.name
    // serviceBusEndpoint is https://<namespace>.servicebus.windows.net:443/; the link wants '.servicebus.windows.net'.
    serviceBusSuffix: split(substring(relay.properties.serviceBusEndpoint, indexOf(relay.properties.serviceBusEndpoint, '.servicebus')), ':')[0]
    relayName: hybridConnections[i].name
    relayArmUri: hybridConnections[i].id
    hostname: endpoint.host
    port: endpoint.port
    sendKeyName: sendRules[i].name
    sendKeyValue: listKeys(sendRules[i].id, '2021-11-01').primaryKey
  }
}]

output namespaceName string = relay.name
output hybridConnectionNames array = [for (endpoint, i) in endpoints: hybridConnections[i].name]
