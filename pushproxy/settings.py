"""Every app setting the product reads, in one place.

The infra tests scan the code for `setting("NAME")` calls (and any direct os.environ read) and check that
infra/ sets each one in the Function App, so read settings only through `setting()`.
"""

from __future__ import annotations

import os

# name -> default (None: no default; the feature that needs it says so when it is missing)
DEFAULTS: dict[str, str | None] = {
    # Durable task hub name; host.json reads it as %PUSHPROXY_TASK_HUB%.
    "PUSHPROXY_TASK_HUB": "pushproxy",
    # NCRONTAB (six fields, seconds first) of the verification timer; the trigger reads %PUSHPROXY_VERIFY_SCHEDULE%.
    "PUSHPROXY_VERIFY_SCHEDULE": "0 0 5 * * *",
    # How many tenants one verification batch covers.
    "PUSHPROXY_VERIFY_BATCH_SIZE": "20",
    # Warn when the Auth certificate expires within this many days.
    "PUSHPROXY_CERT_EXPIRY_WARNING_DAYS": "60",
    # Key Vault that holds the Exchange and Graph secrets named in tenant specs (Azure only).
    "PUSHPROXY_KEYVAULT_URL": None,
    # Local secrets file (JSON object, mode 0600) for one-machine runs.
    "PUSHPROXY_SECRETS_FILE": None,
    # Registry: the Azure Table name, and the storage account (identity-based, as AzureWebJobsStorage).
    "PUSHPROXY_REGISTRY_TABLE": "pushproxyregistry",
    "AzureWebJobsStorage__accountName": None,
    # Client id of the user-assigned managed identity (workload identity federation, Key Vault, Tables).
    "AZURE_CLIENT_ID": None,
    # The multi-tenant app registration that reaches customers' tenants through federation.
    "PUSHPROXY_GRAPH_CLIENT_ID": None,
    # Local registry database (SQLite) for one-machine runs.
    "PUSHPROXY_REGISTRY_PATH": None,
    # Local Durable host database (SQLite) shared by `pushproxy serve`, `onboard`, `approve` on one machine;
    # default ~/.local/share/pushproxy/local.sqlite.
    "PUSHPROXY_LOCAL_DB": None,
    # Kerberos (auth: kerberos) without a krb5.conf of one's own: the realm (e.g. CONTOSO.COM) and its KDCs,
    # comma-separated host[:port] (the domain controllers, reached on TCP 88 through a hybrid connection each).
    "PUSHPROXY_KERBEROS_REALM": None,
    "PUSHPROXY_KERBEROS_KDCS": None,
    # One machine (`pushproxy serve`): the JSON file mapping principal names to roles (operator, requester,
    # approver). In Azure the roles are Entra ID app roles in the App Service authentication principal instead.
    "PUSHPROXY_ROLES_FILE": None,
    # Set by `pushproxy serve` (never in Azure): roles come from PUSHPROXY_ROLES_FILE, and the App Service
    # principal header (X-MS-CLIENT-PRINCIPAL), which only App Service can vouch for, is ignored.
    "PUSHPROXY_ROLE_SOURCE": None,
    # Notification channels (JSON array; pushproxy.notifications.channels documents it), and on one machine a
    # JSON file holding them instead; the app's public https address, which makes the links in events absolute.
    "PUSHPROXY_NOTIFICATION_CHANNELS": None,
    "PUSHPROXY_NOTIFICATION_CHANNELS_FILE": None,
    "PUSHPROXY_PUBLIC_URL": None,
    # The approval console's own key (at least 16 characters) for the tokens of its decision forms
    # (pushproxy.console.csrf). In Azure a Key Vault reference to a secret the deployment makes; `pushproxy serve`
    # makes a random one per run when unset (open pages then ask to be reloaded after a restart).
    "PUSHPROXY_CONSOLE_KEY": None,
}

# Read only on one machine (the local host, the CLI); never set in the Function App.
LOCAL_ONLY: frozenset[str] = frozenset(
    {"PUSHPROXY_SECRETS_FILE", "PUSHPROXY_REGISTRY_PATH", "PUSHPROXY_LOCAL_DB", "PUSHPROXY_ROLES_FILE", "PUSHPROXY_ROLE_SOURCE",
     "PUSHPROXY_NOTIFICATION_CHANNELS_FILE"}
)


def setting(name: str, default: str | None = None) -> str | None:
    """The value of app setting `name`: the environment first, then the documented default."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown setting {name!r}: add it to pushproxy.settings.DEFAULTS")
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return default if default is not None else DEFAULTS[name]
