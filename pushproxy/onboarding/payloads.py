"""What each apply activity is given: pure functions of the spec, the approved change and what the run has seen.
Used by the onboarding orchestrator; kept here so that orchestrators/ holds orchestrators only."""

from __future__ import annotations

from typing import Any

from pushproxy.activity_names import Activity
from pushproxy.plan import Change

# How a refused export of a certificate's key reads (steps.import_auth_certificate): the onboarding ends blocked.
NOT_EXPORTABLE = "certificate key not exportable"


def current_certificate(exchange: dict[str, Any]) -> dict[str, Any] | None:
    return next((c["certificate"] for c in exchange["auth_certificates"] if c["slot"] == "current" and c["certificate"]), None)


def upload_source(
    details: dict[str, Any], created: dict[str, Any] | None, current: dict[str, Any] | None, exchange: dict[str, Any]
) -> dict[str, Any] | None:
    """The certificate whose public key an `upload_tenant_key` change puts on the service principal: the one this
    run created, the staged next one (by thumbprint, from the discovery the plan was approved on), or the current one."""
    source = details.get("source")
    if source == Activity.CREATE_AUTH_CERTIFICATE:
        return created
    if source == "next":
        wanted = str(details.get("thumbprint") or "").upper()
        return next(
            (
                c["certificate"]
                for c in exchange["auth_certificates"]
                if c["slot"] == "next" and c["certificate"] and str(c["certificate"]["thumbprint"]).upper() == wanted
            ),
            None,
        )
    return current


def change_payload(
    spec: dict[str, Any], change: Change, created: dict[str, Any] | None, exchange: dict[str, Any]
) -> dict[str, Any]:
    """The input of the activity that makes `change`."""
    payload: dict[str, Any] = {"spec": spec, "change": change.to_dict()}
    if change.kind in (Activity.IMPORT_AUTH_CERTIFICATE, Activity.ASSIGN_AUTH_CERTIFICATE):
        payload["thumbprint"] = (created or {}).get("thumbprint") or change.details.get("thumbprint")
    if change.kind == Activity.UPLOAD_TENANT_KEY:
        # One change, one PATCH: every key of the run travels together (Entra's replicas lag, so two
        # read-modify-write PATCHes in a row can drop the first one's key).
        current = current_certificate(exchange)
        payload["keys"] = [
            {
                "source": key.get("source"),
                "thumbprint": key.get("thumbprint"),
                "der_b64": (upload_source(key, created, current, exchange) or {}).get("der_b64"),
            }
            for key in change.details.get("keys") or [change.details]
        ]
    return payload
