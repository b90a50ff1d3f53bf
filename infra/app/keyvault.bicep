// Key Vault with RBAC (no access policies). Tenant specs name their secrets (`keyvault:NAME`: the Exchange
// service account's password, a Graph certificate or secret); the app reads them with the SDK and its managed
// identity, so the values never pass through this deployment, app settings or azd's environment.
param name string
param location string
param tags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Purge protection can't be turned off again: a deleted vault keeps its name for the retention period.
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
