"""The TenantSpec as a JSON Schema (draft 2020-12): every field, its type, default and meaning, in one place.

`pushproxy spec --schema` prints it, and the README's field table is generated from it (`pushproxy spec --table`),
so the documentation cannot leave a field out: tests/cli/test_spec_schema.py checks the schema against the
dataclasses that validate a spec (pushproxy/spec.py and the models it uses) and the README against the schema.
Validation itself stays in the code, which gives the one-line, field-naming errors.
"""

from __future__ import annotations

from typing import Any

REF = ("a secret reference: env:NAME, file:NAME (a key of secrets.json), path:/ABSOLUTE/FILE or keyvault:NAME "
       "(env: and keyvault: within the tenant's namespace); never a secret")


def _s(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _n(description: str, default: float, minimum: float, maximum: float, integer: bool = False) -> dict[str, Any]:
    return {"type": "integer" if integer else "number", "description": description, "default": default,
            "minimum": minimum, "maximum": maximum}


TLS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": 'how the server\'s TLS certificate is checked: {"mode": "system"}, {"mode": "ca_bundle", "ca_bundle": PATH} or {"mode": "pinned", "pinned_sha256": HEX}',
    "properties": {
        "mode": _s("system (the machine's CA store), ca_bundle or pinned", enum=["system", "ca_bundle", "pinned"], default="system"),
        "ca_bundle": _s("PEM file of the CA that issued the server's certificate (mode ca_bundle)"),
        "pinned_sha256": _s("SHA-256 of the server's certificate, 64 hex digits, colons allowed (mode pinned)"),
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/pushproxy/pushproxy/tenant-spec.schema.json",
    "title": "TenantSpec",
    "description": "One organisation to onboard. It names secrets by reference and never holds one.",
    "type": "object",
    "additionalProperties": False,
    "required": ["tenant_domain", "tenant_id", "exchange", "graph"],
    "properties": {
        "tenant_domain": _s("the organisation's domain in the tenant: the OAuth realm and the push organisation; DNS rules"),
        "tenant_id": _s("the Entra tenant id (GUID)", format="uuid"),
        "exchange": {
            "type": "object",
            "additionalProperties": False,
            "description": "the Exchange remote PowerShell endpoint",
            "required": ["url"],
            "properties": {
                "url": _s("remote PowerShell URL, e.g. https://mail.fabrikam.com/PowerShell (http only with Kerberos/NTLM message encryption)"),
                "auth": _s("negotiate, ntlm, kerberos or basic; basic needs https",
                           enum=["negotiate", "ntlm", "kerberos", "basic"], default="negotiate"),
                "username": _s("the account, e.g. FABRIKAM\\svc-pushproxy or svc@fabrikam.com (letters, digits, '.', '_', '-'; no space, quote or ';')"),
                "password_ref": _s("the account's password: " + REF),
                "keytab_ref": _s("Kerberos only, instead of password_ref: the base64 of a keytab for username: " + REF),
                "tls": TLS,
                "operation_timeout_s": _n("WSMan OperationTimeout: how long one Receive long-polls", 20.0, 1, 3600),
                "connect_timeout_s": _n("TCP and TLS connect timeout", 30.0, 0.1, 600),
                "call_deadline_s": _n("overall limit for one cmdlet, after which it is stopped", 300.0, 0.1, 86400),
                "servers": {"type": "array", "items": {"type": "string"}, "default": [],
                            "description": "servers to address with -Server; default: every server Get-ExchangeServer lists"},
                "windows_powershell_url": _s("WinRM URL template with {server}, for the health-manager restart; default <scheme>://{server}:5985|5986/wsman"),
                "windows_powershell_tls": {**TLS, "description": "same shape as exchange.tls, for the WinRM listener (windows_powershell_url); default: exchange.tls"},
            },
        },
        "graph": {
            "type": "object",
            "additionalProperties": False,
            "description": "how pushproxy signs in to the tenant (Microsoft Graph)",
            "required": ["mode", "client_id"],
            "properties": {
                "mode": _s("workload_identity (managed identity, federated: no secret at all), certificate or secret",
                           enum=["workload_identity", "certificate", "secret"]),
                "client_id": _s("the app registration that holds Application.ReadWrite.All in the tenant (GUID)", format="uuid"),
                "secret_ref": _s("mode secret: the client secret, " + REF),
                "certificate_ref": _s("mode certificate: one PEM holding the private key and the certificate, " + REF),
                "certificate_password_ref": _s("the PEM's password when its key is encrypted, " + REF),
                "managed_identity_client_id": _s("mode workload_identity: a user-assigned managed identity's client id (GUID); default the system-assigned one", format="uuid"),
                "authority": _s("the token endpoint's host (https); only the worldwide cloud is supported, so change it only for a stand-in",
                                default="https://login.microsoftonline.com"),
                "graph_url": _s("Microsoft Graph's base URL (https); only the worldwide cloud is supported, so change it only for a stand-in",
                                default="https://graph.microsoft.com"),
                "ca_bundle": _s("PEM file of CAs to trust for authority and graph_url (a stand-in's self-signed certificate); default the system store"),
            },
        },
        "approval": {
            "type": "object",
            "additionalProperties": False,
            "description": "who approves each group of changes",
            "properties": {
                "policy": _s("required (a person approves each group) or auto (recorded as approver policy:auto)",
                             enum=["required", "auto"], default="required"),
                "timeout_s": _n("how long to wait for a decision (72 h)", 259200.0, 1, 2592000),
                "approvers": {"type": "array", "items": {"type": "string"}, "default": [],
                              "description": "if set, the only people whose decisions count"},
            },
        },
        "verification": {
            "type": "object",
            "additionalProperties": False,
            "description": "how the workflow checks its work",
            "properties": {
                "restart_health_manager": {"type": "boolean", "default": False,
                                           "description": "restart MSExchangeHM on the probe server first (WinRM, local administrator)"},
                "wait_s": _n("the wait before the probe", 120.0, 0, 86400),
                "probe_deadline_s": _n("how long to retry the probe", 600.0, 0, 86400),
                "probe_interval_s": _n("the wait between probe attempts", 30.0, 0.1, 3600),
            },
        },
        "retry": {
            "type": "object",
            "additionalProperties": False,
            "description": "retry policy of each change (Durable RetryOptions)",
            "properties": {
                "first_retry_interval_s": _n("the first retry's delay", 5.0, 0.001, 3600),
                "max_attempts": _n("attempts in all", 5, 1, 100, integer=True),
            },
        },
        "remediation": {
            "type": "object",
            "additionalProperties": False,
            "description": "what verification does about drift an onboarding can fix",
            "properties": {
                "policy": _s("onboard starts a remediation onboarding (which asks for approval again), off only reports; "
                             "default onboard under approval.policy required, off under auto", enum=["off", "onboard"]),
            },
        },
        "certificate": {
            "type": "object",
            "additionalProperties": False,
            "description": "the Auth certificates pushproxy creates",
            "properties": {
                "lifetime_days": _n("lifetime of a new Auth certificate (5 years, as Exchange's); a tenant key-lifetime "
                                    "policy shortens it", 1826, 2, 1826, integer=True),
            },
        },
        "rotation": {
            "type": "object",
            "additionalProperties": False,
            "description": "the Auth certificate's renewal (pushproxy rotate, POST /api/tenants/{tenant}/rotation)",
            "properties": {
                "renew_before_days": _n("renew when the current certificate expires within this many days", 60.0, 3, 1800),
                "staging_days": _n("how far ahead the next certificate's effective date is (never under 48 h)", 30.0, 2, 365),
                "retire_after_days": _n("days after publishing before the old certificate is retired (asks first)", 7.0, 0, 365),
            },
        },
        "tenant": {
            "type": "object",
            "additionalProperties": False,
            "description": "the tenant's keys when the organisation uses the dedicated Exchange hybrid application",
            "properties": {
                "shared_principal_key": _s("keep puts and keeps the proxy's key on the shared Exchange Online service "
                                           "principal (the push proxy is documented only through it) as well as on the "
                                           "dedicated app; leave_to_cleanup puts keys only on the dedicated app and "
                                           "leaves the shared principal to hybrid clean-up mode (push notifications "
                                           "stop once its key is gone)", enum=["keep", "leave_to_cleanup"],
                                           default="keep"),
            },
        },
    },
}


def fields(schema: dict[str, Any] = SCHEMA, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every field as (dotted name, its schema), parents before children, in the schema's order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, sub in schema.get("properties", {}).items():
        out.append((prefix + name, sub))
        if sub.get("type") == "object" and "properties" in sub:
            out.extend(fields(sub, prefix + name + "."))
    return out


def markdown_table() -> str:
    """The README's field reference: one row per field, generated from SCHEMA."""
    required = {f"{p}.{r}" if p else r for p, s in [("", SCHEMA), *fields()] for r in s.get("required", [])}
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, sub in fields():
        kind = sub.get("type", "")
        if "enum" in sub:
            kind = " \\| ".join(f"`{v}`" for v in sub["enum"])
        default = "required" if name in required else ("`" + _json(sub["default"]) + "`" if "default" in sub else "")
        text = sub.get("description", "").replace("|", "\\|")
        rows.append(f"| `{name}` | {kind} | {default} | {text} |")
    return "\n".join(rows)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
