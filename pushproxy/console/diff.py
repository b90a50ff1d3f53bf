"""A plan's changes as an approver reads them: for each change, rows of where, what, from and to, and the keys it
puts on (or takes off) the tenant's service principal by thumbprint, validity and target. Pure: plain JSON in
(the `Change.to_dict()` shapes of onboarding, offboarding and prune; a rotation's plan), plain data out.

Never key material: a change's details may carry a certificate's DER (public, but noise) or a key id; only the
thumbprint, the validity dates and the target are shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

NEW_CERTIFICATE = "the new Auth certificate (made when approved)"
NONE = "none"
SERVICE_PRINCIPAL = "Exchange Online service principal"
GROUP_TITLES = {"on_premises": "On-premises Exchange organisation", "tenant": "Office 365 tenant",
                "plan": "Rotation plan", "publish": "Publish the new certificate", "retire": "Retire the old certificate"}


@dataclass(frozen=True)
class Row:
    """One setting that changes: where (a server, the organisation, an AuthServer), what, from, to."""

    where: str
    setting: str
    before: str
    after: str


@dataclass(frozen=True)
class KeyRow:
    """A key a change adds to or removes from a service principal: thumbprint, validity, target."""

    action: str  # "add" or "remove"
    thumbprint: str
    valid: str
    target: str


@dataclass(frozen=True)
class ChangeView:
    kind: str
    group: str
    summary: str
    rows: tuple[Row, ...] = ()
    keys: tuple[KeyRow, ...] = ()


@dataclass(frozen=True)
class GroupView:
    group: str
    title: str
    changes: tuple[ChangeView, ...] = field(default_factory=tuple)


def json_object(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one (statuses are foreign JSON: never trust their shape)."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any, default: str = NONE) -> str:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or default
    return str(value)


def _validity(key: Mapping[str, Any]) -> str:
    effective, end = key.get("effective"), key.get("not_after") or key.get("end")
    if key.get("source") == "create_auth_certificate":
        return "from when it is made"
    parts = []
    if effective:
        parts.append(f"signs from {effective}")
    parts.append(f"valid until {end}" if end else "validity not known")
    return ", ".join(parts)


def _org(details: Mapping[str, Any]) -> str:
    return "Exchange organisation (Get-AuthConfig)"


def _create(d: Mapping[str, Any]) -> list[Row]:
    return [Row(_text(d.get("server"), "first Mailbox server"), "new Auth certificate", NONE,
                f"created ({_text(d.get('reason'), 'no valid one')})")]


def _import(d: Mapping[str, Any]) -> list[Row]:
    what = _text(d.get("thumbprint"), NEW_CERTIFICATE)
    return [Row(str(server), "Auth certificate in the certificate store", "absent",
                f"{what}, copied from {_text(d.get('from'))}") for server in d.get("servers") or ()]


def _assign(d: Mapping[str, Any]) -> list[Row]:
    return [Row(_org(d), "CurrentCertificateThumbprint", _text(d.get("replaces")),
                _text(d.get("thumbprint"), NEW_CERTIFICATE))]


def _auth_server(d: Mapping[str, Any]) -> list[Row]:
    where = f"AuthServer {_text(d.get('name'))}"
    if d.get("action") == "create":
        return [Row(where, "AuthMetadataUrl", "absent (created)", _text(d.get("auth_metadata_url")))]
    return [Row(where, "AuthMetadataUrl", _text(d.get("current_url")), _text(d.get("auth_metadata_url"))),
            Row(where, "Enabled", "as it is", "yes")]


def _proxy(d: Mapping[str, Any], enable: bool) -> list[Row]:
    was = json_object(d.get("was"))
    where = "Push-notification proxy (OWA for Devices)"
    return [Row(where, "Enabled", _text(was.get("enabled"), "no"), "yes" if enable else "no"),
            Row(where, "Organization", _text(was.get("organization")),
                _text(d.get("organization")) if enable else _text(was.get("organization")))]


def _remove_auth_server(d: Mapping[str, Any]) -> list[Row]:
    return [Row(f"AuthServer {_text(d.get('name'))}", "the AuthServer", _text(d.get("auth_metadata_url"), "present"),
                "removed")]


def _upload_keys(d: Mapping[str, Any]) -> list[KeyRow]:
    keys = d.get("keys") or [d]
    target = f"{SERVICE_PRINCIPAL} {_text(d.get('service_principal_id'), '')}".strip() + " (keyCredentials)"
    return [KeyRow("add", _text(k.get("thumbprint"), NEW_CERTIFICATE), _validity(k), target)
            for k in keys if isinstance(k, Mapping)]


def _remove_keys(d: Mapping[str, Any]) -> list[KeyRow]:
    target = f"{SERVICE_PRINCIPAL} {_text(d.get('service_principal_id'), '')}".strip() + " (keyCredentials)"
    keys = [k for k in d.get("keys") or () if isinstance(k, Mapping)] or [{"thumbprint": t} for t in d.get("thumbprints") or ()]
    return [KeyRow("remove", _text(k.get("thumbprint")), _validity(k), target) for k in keys]


ROWS: dict[str, Callable[[Mapping[str, Any]], list[Row]]] = {
    "create_auth_certificate": _create,
    "import_auth_certificate": _import,
    "assign_auth_certificate": _assign,
    "ensure_auth_server": _auth_server,
    "enable_push_proxy": lambda d: _proxy(d, True),
    "disable_push_proxy": lambda d: _proxy(d, False),
    "remove_auth_server": _remove_auth_server,
}
KEYS: dict[str, Callable[[Mapping[str, Any]], list[KeyRow]]] = {
    "upload_tenant_key": _upload_keys,
    "remove_tenant_keys": _remove_keys,
}


def change_view(change: Mapping[str, Any]) -> ChangeView:
    """One change of a plan (`Change.to_dict()`), as rows; an unknown kind keeps its summary only."""
    kind = str(change.get("kind") or "")
    details = json_object(change.get("details"))
    rows = ROWS.get(kind, lambda _: [])(details)
    keys = KEYS.get(kind, lambda _: [])(details)
    return ChangeView(kind, str(change.get("group") or ""), str(change.get("summary") or kind), tuple(rows), tuple(keys))


def grouped(changes: list[Mapping[str, Any]]) -> tuple[GroupView, ...]:
    """The changes by where they land, in the plan's order of groups (each group is approved on its own)."""
    order: list[str] = []
    by_group: dict[str, list[ChangeView]] = {}
    for change in changes:
        view = change_view(change)
        if view.group not in by_group:
            order.append(view.group)
            by_group[view.group] = []
        by_group[view.group].append(view)
    return tuple(GroupView(g, GROUP_TITLES.get(g, g), tuple(by_group[g])) for g in order)


def rotation_changes(plan: Mapping[str, Any] | None, steps: list[str]) -> tuple[GroupView, ...]:
    """A rotation's plan (`RotationPlan.to_dict()`) as rows, and the steps of the wait it shows as summaries."""
    plan = plan or {}
    rows: list[Row] = []
    keys: list[KeyRow] = []
    create = (json_object(plan.get("create")) or None)
    current = json_object(plan.get("current"))
    if create:
        rows.append(Row(_text(create.get("server")), "new Auth certificate", NONE,
                        f"created ({_text(create.get('key_size'), '?')} bits, {_text(create.get('lifetime_days'), '?')} days)"))
        # Where the key goes, as the plan decided it (the dedicated hybrid app too, when the organisation has one).
        target = _text(plan.get("key_to"), "") or SERVICE_PRINCIPAL
        keys.append(KeyRow("add", NEW_CERTIFICATE, "from when it is made", f"{target} (keyCredentials)"))
    for server in plan.get("import_to") or ():
        rows.append(Row(str(server), "Auth certificate in the certificate store", "absent",
                        f"copied from {_text(plan.get('import_from'))}"))
    if plan.get("mode") == "renew":
        rows.append(Row("Exchange organisation (Get-AuthConfig)", "NextCertificateThumbprint, effective date", NONE,
                        f"the new certificate, effective {_text(plan.get('effective'))}"))
    elif plan.get("mode") == "emergency":
        rows.append(Row("Exchange organisation (Get-AuthConfig)", "CurrentCertificateThumbprint",
                        _text(current.get("thumbprint")), NEW_CERTIFICATE))
    summary = "; ".join(steps) if steps else _text(plan.get("reason"), "")
    return (GroupView("plan", GROUP_TITLES["plan"], (ChangeView("rotation", "plan", summary, tuple(rows), tuple(keys)),)),)
