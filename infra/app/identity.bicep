// The one identity the function app runs as: storage, Key Vault, Application Insights and (through workload
// identity federation) Graph in customers' tenants all trust it, so no credential lives in app settings.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
