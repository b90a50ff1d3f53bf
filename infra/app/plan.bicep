// The hosting plan. Hybrid connections need Elastic Premium or a Dedicated (App Service) plan: Consumption and
// Flex Consumption don't offer them. Python function apps run on Linux only, hence `reserved: true`.
@allowed([ 'EP1', 'EP2', 'EP3', 'B1', 'B2', 'B3', 'S1', 'S2', 'S3', 'P0v3', 'P1v3', 'P2v3', 'P3v3' ])
param sku string
param name string
param location string
param tags object
@description('Elastic Premium only: the most instances the plan scales out to.')
param maximumElasticWorkerCount int

var isElasticPremium = startsWith(sku, 'EP')
// The tier of each SKU family, stated rather than left for App Service to infer.
var tier = isElasticPremium ? 'ElasticPremium' : startsWith(sku, 'P') ? 'PremiumV3' : startsWith(sku, 'S') ? 'Standard' : 'Basic'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: isElasticPremium ? 'elastic' : 'linux'
  sku: {
    name: sku
    tier: tier
  }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: isElasticPremium ? maximumElasticWorkerCount : null
  }
}

output id string = plan.id
