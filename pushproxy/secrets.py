"""Resolve secret references. Specs name secrets; only this module ever holds their values.

A reference is `env:NAME` (an environment variable), `file:NAME` (a key of the local secrets file, a JSON
object that must be mode 0600: a PEM goes there as one JSON string), `path:/ABSOLUTE/FILE` (the whole content of
one file, also mode 0600: a PEM as it is), or `keyvault:NAME` (a secret in the Key Vault named by
PUSHPROXY_KEYVAULT_URL).

Environment variable and Key Vault names resolve within the tenant's own namespace, so that no spec can name the
service's own settings (`env:AzureWebJobsStorage`, `env:IDENTITY_HEADER`) or another tenant's secret. For tenant
`fabrikam.com`, `env:EXCHANGE_PASSWORD` reads the variable `PUSHPROXY_FABRIKAM_COM___EXCHANGE_PASSWORD` and
`keyvault:exchange-password` reads the Key Vault secret `fabrikam-com---exchange-password` (`tenant_env_name`,
`tenant_keyvault_name`). The mapping is one to one: a domain's `.` becomes one `_` (`-` in Key Vault) and its `-`
two, the separator is three, and a name starts with a letter or digit, so two tenants never share a name.
`file:` (a key of the local secrets file) and `path:` (a file) are the local operator's own files, not namespaced.
Which host each reference may be presented to is checked where it is presented (pushproxy.bindings).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from pushproxy.errors import SecretError
from pushproxy.settings import setting

# Full-match patterns (re.fullmatch): `$` would let a trailing line break through. A name starts with a letter or
# digit, which keeps the tenant namespaces apart (see above). Key Vault names allow only letters, digits and `-`.
REF_PATTERN = re.compile(r"(env:[A-Za-z0-9][A-Za-z0-9_]{0,126}|file:[A-Za-z0-9][A-Za-z0-9_.\-]{0,126}|keyvault:[A-Za-z0-9][A-Za-z0-9\-]{0,126})")
# An absolute path, no control character: a relative one would depend on where the command runs.
PATH_PATTERN = re.compile(r"path:/[^\x00-\x1f\x7f]{1,4095}")
KEYVAULT_NAME_MAX = 127
# The scope of secret resolution: a tenant domain, or OWN for the local operator's own variable (the CLI's
# PUSHPROXY_EXCHANGE_PASSWORD). Without a scope nothing resolves: no code path can forget the namespace.
OWN = "<own>"
_SCOPE: contextvars.ContextVar[str | None] = contextvars.ContextVar("pushproxy_secret_scope", default=None)
REF_FORMS = "env:NAME, file:NAME, path:/ABSOLUTE/FILE or keyvault:NAME"
DEFAULT_SECRETS_FILE = Path.home() / ".config" / "pushproxy" / "secrets.json"


def is_secret_ref(value: object) -> bool:
    """True when `value` is a well-formed secret reference (not a secret)."""
    return isinstance(value, str) and bool(REF_PATTERN.fullmatch(value) or PATH_PATTERN.fullmatch(value))


def _namespace(domain: str, dot: str, hyphen: str) -> str:
    return domain.lower().replace("-", hyphen).replace(".", dot)


def tenant_env_name(domain: str, name: str) -> str:
    """The environment variable that `env:NAME` names for `domain`: PUSHPROXY_<DOMAIN>___<NAME>."""
    return f"PUSHPROXY_{_namespace(domain, '_', '__').upper()}___{name}"


def tenant_keyvault_name(domain: str, name: str) -> str:
    """The Key Vault secret that `keyvault:NAME` names for `domain`: <domain>---<name>."""
    return f"{_namespace(domain, '-', '--')}---{name}"


def resolved_name(ref: str, domain: str) -> str:
    """Where a reference of `domain` is read from (a variable, a Key Vault secret, a key, a file): never a value.
    Shown to the operator at registration, so they know where to put the secret."""
    scheme, name = ref.split(":", 1)
    if scheme == "env":
        return f"environment variable {tenant_env_name(domain, name)}"
    if scheme == "keyvault":
        return f"Key Vault secret {tenant_keyvault_name(domain, name)}"
    if scheme == "file":
        return f"key {name} of the local secrets file"
    return f"file {name}"


def namespace_problem(ref: str, domain: str) -> str | None:
    """Why `ref` can't name a secret in `domain`'s namespace (a Key Vault name too long), else None."""
    if ref.startswith("keyvault:") and len(tenant_keyvault_name(domain, ref.split(":", 1)[1])) > KEYVAULT_NAME_MAX:
        return f"the Key Vault name for this tenant would be longer than {KEYVAULT_NAME_MAX} characters: use a shorter name"
    return None


@contextlib.contextmanager
def tenant_scope(domain: str) -> Iterator[None]:
    """Resolve secret references within `domain`'s namespace (or OWN: the local operator's own, unprefixed)."""
    token = _SCOPE.set(domain)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def bad_ref_reason(value: object, what: str = "secret") -> str:
    """Why `value` is not a secret reference, for the spec's error message; never echoes the value."""
    if isinstance(value, str) and value.startswith("file:") and ("/" in value or "\\" in value):
        return ("must be a secret reference; file:NAME names a key of the secrets file (secrets.json), not a path: "
                "for a file of its own write path:/absolute/path (mode 0600)")
    if isinstance(value, str) and value.startswith("path:"):
        return "must be path: followed by an absolute path (path:/etc/pushproxy/app.pem)"
    return f"must be a secret reference ({REF_FORMS}), not a {what}"


def resolve_secret(ref: str, tenant: str | None = None) -> str:
    """The secret that `ref` names, within `tenant`'s namespace (else the current `tenant_scope`). Raises
    SecretError (which never contains the value)."""
    if not is_secret_ref(ref):
        raise SecretError("(not shown)", "not a secret reference (env:, file:, path: or keyvault:)")
    scope = tenant or _SCOPE.get()
    if scope is None:
        raise SecretError(ref, "resolved outside any tenant's namespace (a bug: nothing was sent)")
    scheme, name = ref.split(":", 1)
    if scheme == "path":
        return _from_path(ref, Path(name))
    if scheme == "env":
        variable = name if scope == OWN else tenant_env_name(scope, name)
        value = os.environ.get(variable)
        if not value:
            raise SecretError(ref, f"environment variable {variable} is not set")
        return value
    if scheme == "file":
        return _from_secrets_file(ref, name)
    if scope != OWN:
        problem = namespace_problem(ref, scope)
        if problem:
            raise SecretError(ref, problem)
    return _from_key_vault(ref, name if scope == OWN else tenant_keyvault_name(scope, name))


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
