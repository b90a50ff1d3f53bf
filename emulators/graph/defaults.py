"""The default tenant: Fabrikam, ready to onboard, whose Exchange Online service principal already holds a key
that belongs to someone else (another organisation's Exchange Auth certificate). Every test that writes keys
must leave that key in place.
"""

from __future__ import annotations

import copy
from typing import Any

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
DEFAULT_TENANT_ID = "11111111-2222-3333-4444-555555555555"
DEFAULT_SP_ID = "5e4c0d1a-9f0b-4d8e-8c61-2a7d6b1e0f31"
FOREIGN_KEY_ID = "7c1f3a52-6b0e-4d2a-9e8f-0a1b2c3d4e5f"
# SHA-1 of FOREIGN_CERT_B64, upper-case hex.
FOREIGN_THUMBPRINT = "2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D"

# The provider's own tenant, where the Function App's managed identity lives (workload identity federation).
PROVIDER_TENANT_ID = "99999999-aaaa-4bbb-8ccc-000000000001"
DEFAULT_MI_CLIENT_ID = "a1a1a1a1-0000-4000-8000-000000000001"
DEFAULT_MI_PRINCIPAL_ID = "a1a1a1a1-0000-4000-8000-0000000000aa"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
MI_ISSUER = f"https://login.microsoftonline.com/{PROVIDER_TENANT_ID}/v2.0"

# A self-signed "Microsoft Exchange Server Auth Certificate" (public DER only), 2024-03-01 to 2029-03-01.
FOREIGN_CERT_B64 = (
    "MIIC6DCCAdCgAwIBAgIGGis8TV5vMA0GCSqGSIb3DQEBCwUAMDUxMzAxBgNVBAMMKk1pY3Jvc29mdCBFeGNoYW5nZSBTZXJ2ZXIg"
    "QXV0aCBDZXJ0aWZpY2F0ZTAeFw0yNDAzMDEwMDAwMDBaFw0yOTAzMDEwMDAwMDBaMDUxMzAxBgNVBAMMKk1pY3Jvc29mdCBFeGNo"
    "YW5nZSBTZXJ2ZXIgQXV0aCBDZXJ0aWZpY2F0ZTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAOojg/XvJKB1jCu+dZOZ"
    "+xqd/pqR8SfvBnqjMfxx05lZtqQ65WtYq38zsa9G28Kgyb2GYKmOlfMnPpubkc7j/bYdw4gmoguxq3OI48aPmoX48oI2ZweV5IB9"
    "xDqXI+lxUhauEczSwcIjeOlGKBPZ1qH8+w1qqZZ9keQvZNFm1OsIraevb/hsPM5jwewrbzmFpTH+LZcCPIUcpIZqWxetBFQBbwMI"
    "dwCqeQVdW3/+gj3J7V5S8giM3xG7m9tgUyKLHgbqDqLrD96iul/YXw88rNNkf7kMJ8U1e+qhvnz/rbUkg3gQbFd4iNpWacRAVA33"
    "Pqc6VkaE6mNntjzQ/lAwjcECAwEAATANBgkqhkiG9w0BAQsFAAOCAQEAYjivKp5tjyjngG7zMCUltlPWUo7iRs7DwvWaOgOIS8NE"
    "WL0CosC96UqC1czaJSeaND1XOo8GA14BYyCjnA7cGypAqLlLS+FgXEkuUF+IQJxOlmgK3JmpLqsP1ebQ58CxtwfaO8+gx9F7zPsB"
    "mKZ4yQ92JTImSe6RLTtq9/h9Fz2uWCDlT96ymC1i25vRcFFhA23vt4YOaGhro7g/7RBLwe1TL9ROzd4EuTwndxnxHmM/MTuxOzg2"
    "voj7+zXfsdz2L2hvnBXKyov4PZVQZUo38DPP007Csx6EnfLUuzsadRUhnuQw7sGAj0YTh8dXEqQWolt4KyN9JodSvcF8Olr2qg=="
)

_DEFAULT_STATE: dict[str, Any] = {
    "tenants": {
        DEFAULT_TENANT_ID: {
            "id": DEFAULT_TENANT_ID,
            "displayName": "Fabrikam",
            "defaultDomain": "fabrikam.onmicrosoft.com",
            "verifiedDomains": [
                {"name": "fabrikam.onmicrosoft.com", "isDefault": True, "isInitial": True},
                {"name": "fabrikam.com", "isDefault": False, "isInitial": False},
            ],
            "servicePrincipals": [
                {
                    "id": DEFAULT_SP_ID,
                    "appId": EXCHANGE_ONLINE_APP_ID,
                    "displayName": "Office 365 Exchange Online",
                    "keyCredentials": [
                        {
                            "keyId": FOREIGN_KEY_ID,
                            "customKeyIdentifier": "K4XjtMxAbL6G8+NclgvvjeYoa30=",
                            "displayName": "CN=Microsoft Exchange Server Auth Certificate",
                            "type": "AsymmetricX509Cert",
                            "usage": "Verify",
                            "key": FOREIGN_CERT_B64,
                            "startDateTime": "2024-03-01T00:00:00Z",
                            "endDateTime": "2029-03-01T00:00:00Z",
                        }
                    ],
                }
            ],
            "policies": {"maxCertificateLifetimeDays": None, "locked": False},
        }
    },
    "applications": {},
    "managedIdentities": {
        DEFAULT_MI_CLIENT_ID: {"principalId": DEFAULT_MI_PRINCIPAL_ID, "tenantId": PROVIDER_TENANT_ID, "default": True}
    },
    "settings": {"tokenLifetimeS": 3599},
}


def default_state() -> dict[str, Any]:
    """A fresh copy of the default state."""
    return copy.deepcopy(_DEFAULT_STATE)
