"""Resolve secret references. Specs name secrets; only this module ever holds their values.

A reference is `env:NAME` (an environment variable), `file:NAME` (a key of the local secrets file, a JSON
object that must be mode 0600: a PEM goes there as one JSON string), `path:/ABSOLUTE/FILE` (the whole content of
one file, also mode 0600: a PEM as it is), or `keyvault:NAME` (a secret in the Key Vault named by
PUSHPROXY_KEYVAULT_URL).
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
# An absolute path, no line break or NUL: a relative one would depend on where the command runs.
PATH_PATTERN = re.compile(r"^path:/[^\x00\r\n]{1,4095}$")
REF_FORMS = "env:NAME, file:NAME, path:/ABSOLUTE/FILE or keyvault:NAME"
DEFAULT_SECRETS_FILE = Path.home() / ".config" / "pushproxy" / "secrets.json"


def is_secret_ref(value: object) -> bool:
    """True when `value` is a well-formed secret reference (not a secret)."""
    return isinstance(value, str) and bool(REF_PATTERN.match(value) or PATH_PATTERN.match(value))


def bad_ref_reason(value: object, what: str = "secret") -> str:
    """Why `value` is not a secret reference, for the spec's error message; never echoes the value."""
    if isinstance(value, str) and value.startswith("file:") and ("/" in value or "\\" in value):
        return ("must be a secret reference; file:NAME names a key of the secrets file (secrets.json), not a path: "
                "for a file of its own write path:/absolute/path (mode 0600)")
    if isinstance(value, str) and value.startswith("path:"):
        return "must be path: followed by an absolute path (path:/etc/pushproxy/app.pem)"
    return f"must be a secret reference ({REF_FORMS}), not a {what}"


def resolve_secret(ref: str) -> str:
    """The secret that `ref` names. Raises SecretError (which never contains the value)."""
    if not is_secret_ref(ref):
        raise SecretError(ref if len(ref) < 40 else ref[:12] + "…", "not a secret reference (env:, file:, path: or keyvault:)")
    scheme, name = ref.split(":", 1)
    if scheme == "path":
        return _from_path(ref, Path(name))
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
    _private_mode(ref, path, "secrets file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise SecretError(ref, f"secrets file {path} is not a JSON object") from None
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise SecretError(ref, f"no secret named {name} in {path}")
    return value


def _private_mode(ref: str, path: Path, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SecretError(ref, f"{what} {path} does not exist") from None
    except OSError as exc:
        raise SecretError(ref, f"cannot read {what} {path}: {exc.strerror}") from None
    # Like ssh with a private key: refuse a file others can read.
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(ref, f"{what} {path} must be mode 0600 (it is {stat.S_IMODE(mode):04o})")


def _from_path(ref: str, path: Path) -> str:
    _private_mode(ref, path, "secret file")
    try:
        # A trailing line break is the editor's, not the secret's (a PEM parses either way).
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(ref, f"cannot read secret file {path} ({type(exc).__name__})") from None
    if not value:
        raise SecretError(ref, f"secret file {path} is empty")
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
