"""An onboarding through the HTTP API on `pushproxy serve`, with both stand-ins: approval by a second identity,
refusal of self-approval, 409 once nothing waits, then verification of the onboarded tenant through the API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pushproxy.secrets import tenant_env_name
from tests.api.served import OPERATOR, Served

PASSWORD_ENV = "PUSHPROXY_TEST_EXCHANGE_PASSWORD"
ID = "onboarding-fabrikam.com"


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[Any, Any]]:
    from tests.support.exchange_standin import start_exchange_standin
    from tests.support.graph_standin import start_graph_standin

    with start_graph_standin() as graph:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SSL_CERT_FILE", str(graph.cert_path))  # the probe reads the Graph stand-in's state over HTTPS
            exchange = start_exchange_standin("--tenant-state", f"{graph.url}/_emulator/state")
        with exchange:
            yield exchange, graph


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, standins: tuple[Any, Any]) -> Iterator[Served]:
    exchange, graph = standins
    server = Served(tmp_path_factory.mktemp("serve"),
                    {tenant_env_name("fabrikam.com", PASSWORD_ENV): exchange.password, **graph.env(domains=("fabrikam.com",))},
                    roles={OPERATOR: ["operator", "requester"], "alice@provider.example": ["requester", "approver"],
                           "bob@provider.example": ["approver"], "carol@provider.example": ["approver"],
                           "dave@provider.example": ["approver"]})
    try:
        yield server
    finally:
        server.stop()


def spec(exchange: Any, graph: Any) -> dict[str, Any]:
    return {
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "exchange": {"url": exchange.url, "auth": "ntlm", "username": exchange.user, "password_ref": f"env:{PASSWORD_ENV}"},
        "graph": graph.credential_spec("secret"),
        "verification": {"wait_s": 0, "probe_deadline_s": 5, "probe_interval_s": 1},
        "retry": {"first_retry_interval_s": 1, "max_attempts": 2},
    }


def post(served: Served, path: str, body: Any, principal: str | None = "alice@provider.example") -> requests.Response:
    return served.request("POST", path, who=principal, data=json.dumps(body), headers={"Content-Type": "application/json"})


def wait_for(served: Served, predicate: Any, path: str = f"/api/onboardings/{ID}", timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = served.request("GET", path)
        if response.status_code == 200:
            last = response.json()
            if predicate(last):
                return last
        time.sleep(0.2)
    raise AssertionError(f"not reached; last: {json.dumps(last)[:2000]}\n{served.log_path.read_text()[-3000:]}")


def awaiting(group: str) -> Any:
    return lambda view: view["phase"] == "awaiting_approval" and (view["awaiting"] or {}).get("group") == group


def test_onboarding_approved_by_others_then_verified(served: Served, standins: tuple[Any, Any]) -> None:
    exchange, graph = standins
    registered = served.register("fabrikam.com", spec(exchange, graph))
    assert registered.status_code == 201, registered.text
    started = post(served, "/api/tenants/fabrikam.com/onboarding", {"comment": "first onboarding; ticket 42"})
    assert started.status_code == 202, started.text

    view = wait_for(served, awaiting("on_premises"))
    assert view["requested_by"] == "alice@provider.example"
    assert {c["kind"] for c in view["plan"]} >= {"ensure_auth_server", "enable_push_proxy"}

    # The requester can't approve, even holding the approver role, nor in another spelling of her name.
    refused = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve"}, principal="alice@provider.example")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "self_approval"
    refused = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve"}, principal="ALICE@Provider.example")
    assert refused.status_code == 403
    # Nobody authenticated: no decision at all.
    assert post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve", "approver": "bob@provider.example"},
                principal=None).status_code == 403
    # Approving a plan other than the one waiting is refused.
    stale = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve", "state_hash": "ab" * 16},
                 principal="bob@provider.example")
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "stale_plan")
    # The principal decides; a body naming someone else is refused.
    other = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve", "approver": "carol@provider.example"},
                 principal="bob@provider.example")
    assert (other.status_code, other.json()["error"]["field"]) == (400, "approver")
    accepted = post(served, f"/api/onboardings/{ID}/approval",
                    {"decision": "approve", "comment": "looks right; go", "state_hash": view["awaiting"]["state_hash"]},
                    principal="bob@provider.example")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["approver"] == "bob@provider.example"
    assert accepted.json()["group"] == "on_premises"

    view = wait_for(served, awaiting("tenant"))
    # A decision without the state_hash it was shown is refused, naming the field.
    unnamed = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve"}, principal="carol@provider.example")
    assert (unnamed.status_code, unnamed.json()["error"]["field"]) == (400, "state_hash")
    accepted = post(served, f"/api/onboardings/{ID}/approval",
                    {"decision": "approve", "state_hash": view["awaiting"]["state_hash"]}, principal="carol@provider.example")
    assert accepted.status_code == 202, accepted.text

    done = wait_for(served, lambda v: v["runtime_status"] in ("Completed", "Failed", "Terminated"))
    assert done["phase"] == "done", done
    assert [(a["group"], a["approver"]) for a in done["approvals"]] == [
        ("on_premises", "bob@provider.example"), ("tenant", "carol@provider.example")]
    assert {d["kind"] for d in done["done"]} >= {"ensure_auth_server", "upload_tenant_key", "enable_push_proxy"}

    # Nothing waits any more.
    late = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve"}, principal="dave@provider.example")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "not_awaiting_approval")

    # The registry has the tenant, with who approved what.
    tenant = served.request("GET", "/api/tenants/Fabrikam.com").json()
    assert tenant["tenant"] == "fabrikam.com"
    assert tenant["onboarded_at"]
    assert tenant["spec"]["exchange"]["password_ref"] == f"env:{PASSWORD_ENV}"
    assert [a["approver"] for a in tenant["onboardings"][-1]["approvals"]] == ["bob@provider.example", "carol@provider.example"]

    # Verification through the API: the freshly onboarded tenant is healthy.
    verification = post(served, "/api/verifications", {}, principal=OPERATOR)
    assert verification.status_code == 202, verification.text
    wait_for(served, lambda v: v["runtime_status"] == "Completed", path=f"/api/verifications/{verification.json()['id']}")
    fleet = served.request("GET", "/api/tenants").json()
    assert [(t["tenant"], t["state"]) for t in fleet["tenants"]] == [("fabrikam.com", "healthy")], fleet
    assert fleet["summary"]["healthy"] == 1

    # The secret never left the process environment: not in the status, the registry view or the serve log.
    for text in (json.dumps(done), json.dumps(tenant), served.log_path.read_text()):
        assert exchange.password not in text
        assert graph.client_secret not in text


def test_a_second_onboarding_after_the_first_finished_is_accepted(served: Served, standins: tuple[Any, Any]) -> None:
    exchange, graph = standins
    again = post(served, "/api/tenants/fabrikam.com/onboarding", {})
    assert again.status_code == 202, again.text
    # Everything is in place now: the plan is empty, no approval is asked, the probe runs.
    done = wait_for(served, lambda v: v["runtime_status"] == "Completed")
    assert done["plan"] == []
    assert done["phase"] == "done"


OFF = "offboarding-fabrikam.com"


def test_offboarding_through_the_api_needs_approval_and_marks_the_tenant_offboarded(
    served: Served, standins: tuple[Any, Any]
) -> None:
    exchange, graph = standins
    unknown = post(served, "/api/tenants/contoso.com/offboarding", {})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert "nothing to undo" in unknown.json()["error"]["message"]
    bad = post(served, "/api/tenants/fabrikam.com/offboarding", {"remove_auth_server": "yes"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "remove_auth_server")

    started = post(served, "/api/tenants/fabrikam.com/offboarding", {"comment": "moving to Exchange Online"},
                   principal="alice@provider.example")
    assert started.status_code == 202, started.text
    again = post(served, "/api/tenants/fabrikam.com/offboarding", {})
    assert (again.status_code, again.json()["error"]["id"]) == (409, OFF)

    path = f"/api/offboardings/{OFF}"
    view = wait_for(served, awaiting("on_premises"), path=path)
    assert [c["kind"] for c in view["plan"]] == ["disable_push_proxy", "remove_tenant_keys"]
    refused = post(served, f"{path}/approval", {"decision": "approve"}, principal="alice@provider.example")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "self_approval")
    shown = view["awaiting"]["state_hash"]
    assert post(served, f"{path}/approval", {"decision": "approve", "state_hash": shown},
                principal="bob@provider.example").status_code == 202
    shown = wait_for(served, awaiting("tenant"), path=path)["awaiting"]["state_hash"]
    assert post(served, f"{path}/approval", {"decision": "approve", "state_hash": shown},
                principal="carol@provider.example").status_code == 202
    done = wait_for(served, lambda v: v["runtime_status"] == "Completed", path=path)
    assert done["phase"] == "done", done
    assert not exchange.state()["organizations"]["fabrikam.com"]["push_proxy"]["enabled"]

    assert served.request("GET", "/api/tenants").json()["tenants"] == []
    listed = served.request("GET", "/api/tenants?include=offboarded").json()["tenants"]
    assert [(t["tenant"], t["state"], t["offboarded_by"]) for t in listed] == [
        ("fabrikam.com", "offboarded", ["bob@provider.example", "carol@provider.example"])]
    assert served.request("GET", "/api/tenants?include=everything").status_code == 400
    tenant = served.request("GET", "/api/tenants/fabrikam.com").json()
    assert tenant["offboardings"][-1]["outcome"] == "done" and tenant["last_offboarding_id"] == OFF
    assert served.request("GET", "/api/offboardings/onboarding-fabrikam.com").status_code == 404
