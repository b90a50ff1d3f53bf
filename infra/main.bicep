// The push-notification proxy service: everything `azd up` deploys, in one resource group.
// Kept to the Bicep syntax checkov's bundled parser reads (no user-defined types, imports, lambdas or
// nested child loops): tests/infra asserts checkov reports zero parsing errors.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; it names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person running azd; gets Key Vault Secrets Officer to store the Exchange and Graph secrets. Empty: no assignment.')
param principalId string = ''

@allowed([ 'User', 'ServicePrincipal', 'Group' ])
@description('What principalId is (a CI pipeline runs azd as a service principal).')
param principalType string = 'User'

// Elastic Premium (EP*) is the default; a Dedicated App Service plan (B*, S*, P*v3) is the switch.
// Consumption (Y1) and Flex Consumption (FC1) are left out on purpose: neither supports hybrid connections.
@allowed([ 'EP1', 'EP2', 'EP3', 'B1', 'B2', 'B3', 'S1', 'S2', 'S3', 'P0v3', 'P1v3', 'P2v3', 'P3v3' ])
@description('Plan SKU: EP1-EP3 (Elastic Premium) or a Dedicated SKU (B*, S*, P*v3).')
param planSku string = 'EP1'

@minValue(1)
@maxValue(20)
@description('Elastic Premium only: the most instances the plan scales out to (each runs host.json maxConcurrentActivityFunctions activities).')
param maximumElasticWorkerCount int = 4

@allowed([ 'hybridConnection', 'vnet' ])
@description('How the app reaches on-premises Exchange: an Azure Relay hybrid connection per endpoint, or VNet integration (for a site-to-site VPN or ExpressRoute).')
param connectivity string = 'hybridConnection'

@description('Kerberos (auth: kerberos): the Active Directory realm in capitals, e.g. CONTOSO.COM. Empty: no Kerberos settings.')
param kerberosRealm string = ''

@description('Kerberos: the domain controllers (KDCs), each {name, host}, e.g. {"name": "dc01-kdc", "host": "dc01.contoso.local"}. hybridConnection mode adds a hybrid connection to each on TCP 88; vnet mode reaches them through the VNet.')
param kerberosKdcs array = []

@description('hybridConnection mode: on-premises endpoints, each an object {name, host, port}, e.g. {"name": "exch01-https", "host": "exch01.contoso.local", "port": 443}. One hybrid connection each.')
param onPremisesEndpoints array = []

@description('vnet mode: address space of the VNet.')
param vnetAddressPrefix string = '10.60.0.0/24'

@description('vnet mode: the subnet delegated to the function app (a /26 is what Linux Elastic Premium asks for).')
param functionsSubnetPrefix string = '10.60.0.0/26'

@description('vnet mode: GatewaySubnet for the VPN or ExpressRoute gateway you add.')
param gatewaySubnetPrefix string = '10.60.0.64/27'

@description('Client id of the multi-tenant app registration the service uses for Graph (workload identity federation). Empty until you create it.')
param graphClientId string = ''

@description('Client id of the Entra ID app registration people sign in to the approval console with (App Service authentication, ID tokens; redirect URI: the CONSOLE_REDIRECT_URI output). Empty until you create it.')
param consoleAuthClientId string = ''

@description('Durable task hub name: letters and digits, starting with a letter.')
param taskHubName string = 'pushproxy'

@description('NCRONTAB (six fields, seconds first) of the verification timer.')
param verifySchedule string = '0 0 5 * * *'

@description('How many tenants one verification batch covers.')
param verifyBatchSize string = '20'

@description('Warn when the Exchange Auth certificate expires within this many days.')
param certExpiryWarningDays string = '60'

@description('Azure Table holding the registry of onboarded tenants.')
param registryTableName string = 'pushproxyregistry'

var tags = { 'azd-env-name': environmentName }
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var isElasticPremium = startsWith(planSku, 'EP')

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    contentShareName: 'func-${resourceToken}'
    needsContentShare: isElasticPremium
    registryTableName: registryTableName
    keyVaultName: keyVault.outputs.name
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module network 'app/network.bicep' = if (connectivity == 'vnet') {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${resourceToken}'
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    functionsSubnetPrefix: functionsSubnetPrefix
    gatewaySubnetPrefix: gatewaySubnetPrefix
  }
}

module plan 'app/plan.bicep' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-${resourceToken}'
    location: location
    tags: tags
    sku: planSku
    maximumElasticWorkerCount: maximumElasticWorkerCount
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  // The Key Vault reference in the content-share setting resolves at creation: the role must exist first.
  dependsOn: [ rbac ]
  params: {
    name: 'func-${resourceToken}'
    location: location
    tags: tags
    planId: plan.outputs.id
    isElasticPremium: isElasticPremium
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    contentShareName: storage.outputs.contentShareName
    contentShareSecretName: storage.outputs.contentShareSecretName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    graphClientId: graphClientId
    taskHubName: taskHubName
    verifySchedule: verifySchedule
    verifyBatchSize: verifyBatchSize
    certExpiryWarningDays: certExpiryWarningDays
    registryTableName: registryTableName
    kerberosRealm: kerberosRealm
    kerberosKdcs: join(kdcHosts, ',')
    subnetId: connectivity == 'vnet' ? network.outputs.functionsSubnetId : ''
    consoleAuthClientId: consoleAuthClientId
  }
}

// Kerberos needs each KDC's TCP 88 as well as Exchange's port: one hybrid connection per domain controller.
var kdcEndpoints = [for kdc in kerberosKdcs: {
  name: kdc.name
  host: kdc.host
  port: 88
}]
var kdcHosts = [for kdc in kerberosKdcs: kdc.host]

module hybridConnections 'app/hybrid-connections.bicep' = if (connectivity == 'hybridConnection') {
  name: 'hybrid-connections'
  scope: rg
  params: {
    namespaceName: 'relay-${resourceToken}'
    location: location
    tags: tags
    functionAppName: api.outputs.name
    endpoints: concat(onPremisesEndpoints, kdcEndpoints)
  }
}

// azd stores these in .azure/<env>/.env. None is a secret: ids, names and URLs only.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_URL string = api.outputs.url
output PUSHPROXY_CONSOLE_URL string = '${api.outputs.url}/api/console'
output CONSOLE_REDIRECT_URI string = api.outputs.consoleRedirectUri
output AZURE_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output PUSHPROXY_KEYVAULT_URL string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output PUSHPROXY_CONNECTIVITY string = connectivity
output AZURE_RELAY_NAMESPACE string = connectivity == 'hybridConnection' ? hybridConnections.outputs.namespaceName : ''
