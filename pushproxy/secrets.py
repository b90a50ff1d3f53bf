"""Resolve secret references. Specs name secrets; only this module ever holds their values.

A reference is `env:NAME` (an environment variable), `file:NAME` (a key of the local secrets file, a JSON
object that must be mode 0600), or `keyvault:NAME` (a secret in the Key Vault named by PUSHPROXY_KEYVAULT_URL).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from pushproxy.errors import SecretError
from pushproxy.settings import setting

REF_PATTERN = re.compile(r"^(env|file|keyvault):[A-Za-z0-9_.\-]{1,127}$")
DEFAULT_SECRETS_FILE = Path.home() / ".config" / "pushproxy" / "secrets.json"


def is_secret_ref(value: object) -> bool:
    """True when `value` is a well-formed secret reference (not a secret)."""
    return isinstance(value, str) and bool(REF_PATTERN.match(value))


def resolve_secret(ref: str) -> str:
    """The secret that `ref` names. Raises SecretError (which never contains the value)."""
    if not is_secret_ref(ref):
        raise SecretError(ref if len(ref) < 40 else ref[:12] + "…", "not a secret reference (env:, file: or keyvault:)")
    scheme, name = ref.split(":", 1)
    if scheme == "env":
        value = os.environ.get(name)
        if not value:
            raise SecretError(ref, f"environment variable {name} is not set")
        return value
    if scheme == "file":
        return _from_secrets_file(ref, name)
    return _from_key_vault(ref, name)


def _from_secrets_file(ref: str, name: str) -> str:
    path = Path(setting("PUSHPROXY_SECRETS_FILE") or DEFAULT_SECRETS_FILE)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SecretError(ref, f"secrets file {path} does not exist") from None
    # Like ssh with a private key: refuse a file others can read.
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(ref, f"secrets file {path} must be mode 0600 (it is {stat.S_IMODE(mode):04o})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise SecretError(ref, f"secrets file {path} is not a JSON object") from None
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise SecretError(ref, f"no secret named {name} in {path}")
    return value


def _from_key_vault(ref: str, name: str) -> str:
    vault_url = setting("PUSHPROXY_KEYVAULT_URL")
    if not vault_url:
        raise SecretError(ref, "PUSHPROXY_KEYVAULT_URL is not set")
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    client_id = setting("AZURE_CLIENT_ID")
    credential = DefaultAzureCredential(managed_identity_client_id=client_id) if client_id else DefaultAzureCredential()
    try:
        secret = SecretClient(vault_url=vault_url, credential=credential).get_secret(name)
    except Exception as exc:  # azure-core raises many kinds; keep only the type, never a payload
        raise SecretError(ref, f"Key Vault lookup failed ({type(exc).__name__})") from None
    if not secret.value:
        raise SecretError(ref, "Key Vault secret is empty")
    return secret.value
