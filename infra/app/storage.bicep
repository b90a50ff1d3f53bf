// The storage account behind AzureWebJobsStorage (Durable's queues, tables and blobs, reached with the managed
// identity), the registry's table, and on Elastic Premium the Azure Files content share.
param name string
param location string
param tags object
param contentShareName string
@description('Elastic Premium needs a content share; a Dedicated plan does not.')
param needsContentShare bool
param registryTableName string
@description('Key Vault that receives the content-share connection string.')
param keyVaultName string

var contentShareSecretName = 'content-share-connection-string'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Azure Files doesn't accept a managed identity for the Elastic Premium content share, so the account keeps
    // shared keys there; everything else (Durable, the registry) uses the identity. Dedicated: keys off.
    allowSharedKeyAccess: needsContentShare
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
        }
        table: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// The registry of onboarded tenants (pushproxy.registry, PUSHPROXY_REGISTRY_TABLE).
resource registryTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: registryTableName
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = if (needsContentShare) {
  parent: storage
  name: 'default'
}

// Elastic Premium runs the app from an Azure Files share (WEBSITE_CONTENTSHARE). The app setting carries a
// Key Vault reference, and with WEBSITE_SKIP_CONTENTSHARE_VALIDATION the platform no longer creates the share,
// so it is created here.
resource contentShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = if (needsContentShare) {
  parent: fileService
  name: contentShareName
  properties: {
    shareQuota: 100
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// The only secret this deployment writes: the key-based connection string the content share needs. It goes
// straight into Key Vault; the app setting holds a @Microsoft.KeyVault(...) reference to it.
resource contentShareSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (needsContentShare) {
  parent: vault
  name: contentShareSecretName
  properties: {
    contentType: 'text/plain'
    value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
}

output name string = storage.name
output contentShareName string = needsContentShare ? contentShare.name : ''
output contentShareSecretName string = needsContentShare ? contentShareSecret.name : ''
