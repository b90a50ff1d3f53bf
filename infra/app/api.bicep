// The function app: Python 3.11 on Linux, running as the user-assigned identity, with every app setting the
// code reads (pushproxy.settings.DEFAULTS; tests/infra scans the code and checks each one is set here).
param name string
param location string
param tags object
param planId string
param isElasticPremium bool
param identityId string
param identityClientId string
param storageAccountName string
param contentShareName string
param contentShareSecretName string
param keyVaultName string
param applicationInsightsName string
param graphClientId string
param taskHubName string
param verifySchedule string
param verifyBatchSize string
param certExpiryWarningDays string
param registryTableName string
@description('Kerberos realm (e.g. CONTOSO.COM) and its KDCs, comma-separated; empty when Kerberos is not used.')
param kerberosRealm string = ''
param kerberosKdcs string = ''
// Notification channels: a JSON array (README, Notifications). Secret references only, never a secret: plain text is fine.
param notificationChannels string = ''
@description('vnet mode: the delegated subnet to integrate with; empty otherwise.')
param subnetId string = ''
@description('Client id of the Entra ID app registration people sign in to the approval console with (App Service authentication). Empty: authentication is left unconfigured, and every page and route answers 403.')
param consoleAuthClientId string = ''
@description('Key Vault secret holding the approval console key (the azd postprovision hook creates it: docs/deploy.md).')
param consoleKeySecretName string = 'console-key'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var baseSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  // azd deploys a zip; the platform installs requirements.txt (remote build).
  {
    name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
    value: 'true'
  }
  // Identity-based host storage, as Durable needs it: a user-assigned identity takes credential + clientId
  // (Durable doesn't support managedIdentityResourceId).
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  // DefaultAzureCredential picks the user-assigned identity by this client id (Key Vault, Tables, Graph federation).
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'PUSHPROXY_KEYVAULT_URL'
    value: vault.properties.vaultUri
  }
  {
    name: 'PUSHPROXY_GRAPH_CLIENT_ID'
    value: graphClientId
  }
  // host.json reads hubName as %PUSHPROXY_TASK_HUB%.
  {
    name: 'PUSHPROXY_TASK_HUB'
    value: taskHubName
  }
  // The verification timer trigger reads %PUSHPROXY_VERIFY_SCHEDULE%.
  {
    name: 'PUSHPROXY_VERIFY_SCHEDULE'
    value: verifySchedule
  }
  {
    name: 'PUSHPROXY_VERIFY_BATCH_SIZE'
    value: verifyBatchSize
  }
  {
    name: 'PUSHPROXY_CERT_EXPIRY_WARNING_DAYS'
    value: certExpiryWarningDays
  }
  {
    name: 'PUSHPROXY_REGISTRY_TABLE'
    value: registryTableName
  }
  // auth: kerberos: the product writes a krb5.conf for this realm and these KDCs (TCP only) at first use.
  {
    name: 'PUSHPROXY_KERBEROS_REALM'
    value: kerberosRealm
  }
  {
    name: 'PUSHPROXY_KERBEROS_KDCS'
    value: kerberosKdcs
  }
  // Where notifications are delivered, and the app's own address for the links in them.
  {
    name: 'PUSHPROXY_NOTIFICATION_CHANNELS'
    value: notificationChannels
  }
  {
    name: 'PUSHPROXY_PUBLIC_URL'
    value: 'https://${name}.azurewebsites.net'
  }
  // The approval console's key for its decision-form tokens: a Key Vault reference, so the value never passes
  // through this deployment (the azd postprovision hook stores a random one in the vault).
  {
    name: 'PUSHPROXY_CONSOLE_KEY'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${consoleKeySecretName})'
  }
]

// Elastic Premium only: the Azure Files content share, whose connection string is a secret and so a Key Vault
// reference (resolved with keyVaultReferenceIdentity). Skipping validation is required with a reference: the
// platform can't resolve it while it validates the request.
var contentShareSettings = [
  {
    name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${contentShareSecretName})'
  }
  {
    name: 'WEBSITE_CONTENTSHARE'
    value: contentShareName
  }
  {
    name: 'WEBSITE_SKIP_CONTENTSHARE_VALIDATION'
    value: '1'
  }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    vnetRouteAllEnabled: !empty(subnetId)
    clientCertEnabled: false
    siteConfig: {
      linuxFxVersion: 'Python|3.11'
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Dedicated plans unload idle apps; Durable timers and the verification schedule need it loaded.
      alwaysOn: !isElasticPremium
      appSettings: concat(baseSettings, isElasticPremium ? contentShareSettings : [])
    }
  }
}

// azd deploys with Entra ID tokens, so basic (user/password) publishing stays off.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service authentication (Easy Auth) with Entra ID, for the approval console (and every route: the app reads
// who is calling from the headers it sets, and it strips copies a client sent). Unauthenticated requests pass
// through (AllowAnonymous) so the JSON API keeps answering 403 in its own shape to a caller without a token; the
// console's pages send a browser to /.auth/login/aad themselves (functions/console.py). Sign-in uses the ID token
// (no client secret); the redirect URI to register on the app is https://<app>/.auth/login/aad/callback.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(consoleAuthClientId)) {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            consoleAuthClientId
            'api://${consoleAuthClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
  }
}

output name string = functionApp.name
output consoleRedirectUri string = 'https://${functionApp.properties.defaultHostName}/.auth/login/aad/callback'
output url string = 'https://${functionApp.properties.defaultHostName}'
