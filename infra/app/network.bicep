// vnet mode: VNet integration for the function app, for a site-to-site VPN or ExpressRoute to on-premises
// Exchange. This is the documented fallback if hybrid connections don't work for a Linux function app. The
// gateway itself (VPN or ExpressRoute) depends on the customer's network and is added into GatewaySubnet by hand;
// see docs/deploy.md.
param name string
param location string
param tags object
param addressPrefix string
param functionsSubnetPrefix string
param gatewaySubnetPrefix string

resource functionsNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-functions'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'snet-functions'
        properties: {
          addressPrefix: functionsSubnetPrefix
          networkSecurityGroup: {
            id: functionsNsg.id
          }
          // Regional VNet integration needs a subnet delegated to the App Service plan.
          delegations: [
            {
              name: 'functions'
              properties: {
                serviceName: 'Microsoft.Web/serverFarms'
              }
            }
          ]
        }
      }
      {
        // Azure requires this exact name for a VPN or ExpressRoute gateway, and no NSG on it.
        name: 'GatewaySubnet'
        properties: {
          addressPrefix: gatewaySubnetPrefix
        }
      }
    ]
  }
}

output functionsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-functions')
output name string = vnet.name
