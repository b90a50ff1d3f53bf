"""The HTTP API through `pushproxy serve`: routes, validation, 404s and 409s, with plain HTTP and the SDK's client.

An Exchange endpoint that accepts connections and never answers keeps an onboarding (and a verification) running
for as long as a test needs, without any stand-in: that is how the 409s are reached deterministically.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.served import APPROVER, OPERATOR, REQUESTER, Served

REPO = Path(__file__).resolve().parents[2]
TENANT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never answers (a hung Exchange)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def spec(domain: str, port: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_domain": domain,
        "tenant_id": TENANT_ID,
        "exchange": {
            "url": f"http://127.0.0.1:{port}/PowerShell", "auth": "ntlm", "username": "admin@fabrikam.com",
            "password_ref": "env:PUSHPROXY_TEST_HUNG_PASSWORD", "connect_timeout_s": 60, "operation_timeout_s": 60,
        },
        # Both sides hang on the silent port (the secrets resolve): discovery neither succeeds nor fails for minutes.
        "graph": {"mode": "secret", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                  "secret_ref": "env:PUSHPROXY_TEST_HUNG_SECRET",
                  "authority": f"https://127.0.0.1:{port}", "graph_url": f"https://127.0.0.1:{port}"},
        # Long retries: a failing discovery keeps the instance running while the test looks at it.
        "retry": {"first_retry_interval_s": 600, "max_attempts": 3},
    }
    body.update(changes)
    return body


def post_json(served: Served, path: str, body: Any, who: str | None = REQUESTER, **kw: Any) -> requests.Response:
    return served.request("POST", path, who=who, data=json.dumps(body),
                          headers={"Content-Type": "application/json", **kw.pop("headers", {})}, **kw)


def put_json(served: Served, path: str, body: Any, who: str | None = OPERATOR) -> requests.Response:
    return served.request("PUT", path, who=who, data=json.dumps(body), headers={"Content-Type": "application/json"})


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


# --------------------------------------------------------------------------------------------- the document


def test_openapi_document_is_served_and_is_the_one_in_the_repo(served: Served) -> None:
    response = served.request("GET", "/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads((REPO / "openapi.json").read_text())
    assert response.json()["openapi"].startswith("3.")


def test_every_http_function_is_in_the_document() -> None:
    import function_app  # noqa: F401  (registers the blueprints)
    from functions import console, http_api, http_offboarding, http_rotation, notifications

    document = json.loads((REPO / "openapi.json").read_text())
    routes = {f"/{fb._function.get_trigger().route}"
              for bp in (http_api.bp, http_offboarding.bp, http_rotation.bp, notifications.bp, console.bp)
              for fb in bp._function_builders if fb._function.get_trigger().get_binding_name() == "httpTrigger"}
    # The catch-all answers unknown routes with the error shape; it is not a route of the API.
    assert routes - {"/{*path}"} == set(document["paths"])


def test_a_rotation_is_refused_while_the_tenant_onboards_and_an_onboarding_while_it_rotates(
    served: Served, silent_port: int
) -> None:
    for domain in ("rot-a.example", "rot-b.example"):  # the operator's registrations; requests carry none of it
        assert served.register(domain, spec(domain, silent_port)).status_code in (200, 201)
    onboarding = post_json(served, "/api/tenants/rot-a.example/onboarding", {})
    assert onboarding.status_code == 202, onboarding.text
    refused = post_json(served, "/api/tenants/rot-a.example/rotation", {})
    assert refused.status_code == 409
    error = error_of(refused)
    assert (error["code"], error["id"]) == ("already_running", "onboarding-rot-a.example")
    assert "onboarding-rot-a.example" in error["status_url"]

    rotation = post_json(served, "/api/tenants/rot-b.example/rotation", {})
    assert rotation.status_code == 202, rotation.text
    assert rotation.json()["id"] == "rotation-rot-b.example"
    view = served.request("GET", "/api/rotations/rotation-rot-b.example")
    assert view.status_code == 200 and view.json()["id"] == "rotation-rot-b.example"
    assert served.request("GET", "/api/rotations/onboarding-rot-a.example").status_code == 404
    again = post_json(served, "/api/tenants/rot-b.example/onboarding", {})
    assert again.status_code == 409 and error_of(again)["id"] == "rotation-rot-b.example"
    second = post_json(served, "/api/tenants/rot-b.example/rotation", {})
    assert second.status_code == 409 and error_of(second)["id"] == "rotation-rot-b.example"
    decision = served.request("POST", "/api/rotations/rotation-rot-b.example/approval", who=APPROVER,
                              data=json.dumps({"decision": "approve"}), headers={"Content-Type": "application/json"})
    assert decision.status_code == 409  # nothing waits for approval: it is still discovering
    # Both hang on a port that never answers: end them, so the module's other tests get the host's workers.
    for instance_id in ("onboarding-rot-a.example", "rotation-rot-b.example"):
        served.durable(lambda client, i=instance_id: client.terminate(i, "test over"))


# --------------------------------------------------------------------------------------------- bad input: 400


def test_a_body_that_is_not_json_is_refused(served: Served, silent_port: int) -> None:
    response = served.request("PUT", "/api/tenants/fabrikam.com", who=OPERATOR, data=b"{not json")
    assert response.status_code == 400
    assert error_of(response)["field"] == "body"


def test_a_body_that_is_not_an_object_is_refused(served: Served) -> None:
    response = put_json(served, "/api/tenants/fabrikam.com", ["a"])
    assert (response.status_code, error_of(response)["field"]) == (400, "body")


@pytest.mark.parametrize("missing", ["tenant_id", "exchange", "graph"])
def test_missing_fields_are_named(served: Served, silent_port: int, missing: str) -> None:
    body = spec("fabrikam.com", silent_port)
    del body[missing]
    response = put_json(served, "/api/tenants/fabrikam.com", body)
    assert response.status_code == 400
    assert error_of(response)["field"] == missing


@pytest.mark.parametrize("domain", ["fabrikam", "-fabrikam.com", "fab_rikam.com", "a..b.com", "fabrikam.com%0A",
                                    "%C3%A3%0Ax.com", "fabri%E2%84%AAam.com"])
def test_a_malformed_domain_in_the_route_is_refused(served: Served, silent_port: int, domain: str) -> None:
    response = put_json(served, f"/api/tenants/{domain}", spec("fabrikam.com", silent_port))
    assert response.status_code == 400
    assert error_of(response)["field"] in ("tenant", "tenant_domain")
    response = post_json(served, f"/api/tenants/{domain}/onboarding", {})
    assert response.status_code == 400


def test_a_body_for_another_tenant_is_refused(served: Served, silent_port: int) -> None:
    response = put_json(served, "/api/tenants/contoso.com", spec("fabrikam.com", silent_port))
    assert (response.status_code, error_of(response)["field"]) == (400, "tenant_domain")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("exchange.username", "admin$(Remove-Item C:\\)"),
        ("exchange.username", "admin; Disable-PushNotificationProxy"),
        ("exchange.username", "x'; Remove-AuthServer MicrosoftSts'"),
        ("approval.approvers", ["bob\u200b"]),
    ],
)
def test_bad_strings_are_refused_where_they_go(served: Served, silent_port: int, path: str, value: Any) -> None:
    body = copy.deepcopy(spec("fabrikam.com", silent_port))
    node = body
    *parents, last = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    response = put_json(served, "/api/tenants/fabrikam.com", body)
    assert response.status_code == 400
    assert error_of(response)["field"].startswith(path)


def test_an_inline_secret_is_refused_without_being_echoed(served: Served, silent_port: int) -> None:
    body = spec("fabrikam.com", silent_port)
    body["exchange"]["password_ref"] = "Sup3rS3cret-value"
    response = put_json(served, "/api/tenants/fabrikam.com", body)
    assert response.status_code == 400
    assert "Sup3rS3cret" not in response.text


def test_refused_input_starts_nothing(served: Served) -> None:
    status = served.durable(lambda client: client.get_status("onboarding-fabrikam.com"))
    assert not status


def test_a_body_over_the_bound_is_413_in_the_error_shape(served: Served) -> None:
    for size in (70 * 1024, 2 * 1024 * 1024):  # over the app's bound, and over the server's own
        response = served.request("PUT", "/api/tenants/fabrikam.com", who=OPERATOR, data=b"{" + b" " * size + b"}",
                                  headers={"Content-Type": "application/json"})
        assert response.status_code == 413, size
        assert response.headers["Content-Type"].startswith("application/json")
        assert error_of(response)["code"] == "body_too_large"


# --------------------------------------------------------------------------------------------- roles


def test_every_route_but_the_document_needs_a_principal_with_a_role(served: Served, silent_port: int) -> None:
    calls = [("GET", "/api/tenants"), ("GET", "/api/tenants/fabrikam.com"), ("PUT", "/api/tenants/fabrikam.com"),
             ("POST", "/api/tenants/fabrikam.com/onboarding"), ("GET", "/api/onboardings"),
             ("GET", "/api/onboardings/onboarding-fabrikam.com"),
             ("POST", "/api/onboardings/onboarding-fabrikam.com/approval"), ("POST", "/api/verifications"),
             ("GET", "/api/verifications/verification")]
    for who in (None, "mallory@provider.example"):  # nobody authenticated (a function key alone), or no role
        for method, path in calls:
            response = served.request(method, path, who=who, data=json.dumps(spec("fabrikam.com", silent_port)))
            assert response.status_code == 403, (who, method, path, response.text)
            assert error_of(response)["code"] in ("unauthenticated", "forbidden")
    assert served.request("GET", "/api/openapi.json", who=None).status_code == 200


def test_only_the_operator_registers_and_only_a_requester_starts(served: Served, silent_port: int) -> None:
    body = spec("listed.example", silent_port)
    for who in (REQUESTER, APPROVER):
        assert put_json(served, "/api/tenants/listed.example", body, who=who).status_code == 403
    assert post_json(served, "/api/tenants/listed.example/onboarding", {}).status_code == 404  # not registered
    created = put_json(served, "/api/tenants/listed.example", body)
    assert created.status_code == 201, created.text
    assert created.json()["registered_by"] == OPERATOR
    assert put_json(served, "/api/tenants/listed.example", body).status_code == 200  # replaced
    for who in (OPERATOR, APPROVER):
        assert post_json(served, "/api/tenants/listed.example/onboarding", {}, who=who).status_code == 403
    # A requester chooses only a comment: no endpoint, secret, approval policy or approver.
    for key, value in (("spec", body), ("graph", body["graph"]), ("approval", {"policy": "auto"}),
                       ("exchange", body["exchange"]), ("requested_by", "olivia")):
        refused = post_json(served, "/api/tenants/listed.example/onboarding", {key: value})
        assert (refused.status_code, error_of(refused)["field"]) == (400, key)


def test_the_registration_shows_references_and_where_they_are_read_never_a_value(served: Served, silent_port: int) -> None:
    assert put_json(served, "/api/tenants/contoso.com", spec("contoso.com", silent_port)).status_code in (200, 201)
    view = served.request("GET", "/api/tenants/contoso.com").json()
    secrets = {s["field"]: s for s in view["secrets"]}
    assert secrets["exchange.password_ref"]["reads"] == \
        "environment variable PUSHPROXY_CONTOSO_COM___PUSHPROXY_TEST_HUNG_PASSWORD"
    assert secrets["exchange.password_ref"]["bound_to"] == [f"127.0.0.1:{silent_port}"]
    assert secrets["graph.secret_ref"]["bound_to"] == [f"127.0.0.1:{silent_port}"]
    assert "not-a-secret" not in json.dumps(view)


# --------------------------------------------------------------------------------------------- 404


def test_unknown_onboarding_is_404(served: Served) -> None:
    response = served.request("GET", "/api/onboardings/onboarding-unknown.example")
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")
    response = post_json(served, "/api/onboardings/onboarding-unknown.example/approval", {"decision": "approve"}, who=APPROVER)
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/nothing"), ("POST", "/api/tenants/a.example/nothing"),
                                              ("DELETE", "/api/x/y/z"), ("GET", "/api/")])
def test_unknown_routes_answer_in_the_error_shape(served: Served, method: str, path: str) -> None:
    response = served.request(method, path, who=None)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_serve_logs_each_request_without_query_or_headers(served: Served) -> None:
    served.request("GET", "/api/tenants/logged.example?code=SECRET-KEY-123", headers={"x-functions-key": "SECRET-HEADER-456"})
    log = wait_until(lambda: (text := served.log_path.read_text()) and "logged.example" in text and text)
    line = next(line for line in log.splitlines() if "GET '/api/tenants/logged.example'" in line)
    assert " 404 " in line and "ms" in line
    assert "SECRET-KEY-123" not in log and "SECRET-HEADER-456" not in log


def test_unknown_tenant_is_404(served: Served) -> None:
    response = served.request("GET", "/api/tenants/unknown.example")
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")


def test_malformed_instance_id_is_400(served: Served) -> None:
    response = served.request("GET", "/api/onboardings/bad$id")
    assert (response.status_code, error_of(response)["field"]) == (400, "id")


# --------------------------------------------------------------------------------------------- onboarding: 202, 409


def wait_until(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_onboarding_is_a_singleton_per_tenant(served: Served, silent_port: int) -> None:
    assert put_json(served, "/api/tenants/adatum.com", spec("adatum.com", silent_port)).status_code in (200, 201)
    first = post_json(served, "/api/tenants/Adatum.com/onboarding", {"comment": "first; of two"})
    assert first.status_code == 202, first.text
    payload = first.json()
    assert payload["id"] == "onboarding-adatum.com"
    assert {"statusQueryGetUri", "sendEventPostUri", "terminatePostUri"} <= set(payload)
    assert first.headers["Location"] == payload["statusQueryGetUri"]

    second = post_json(served, "/api/tenants/adatum.com/onboarding", {})
    assert second.status_code == 409
    error = error_of(second)
    assert error["code"] == "already_running"
    assert error["status_url"] == payload["statusQueryGetUri"]
    # The status URL is the Durable one, and works.
    assert requests.get(error["status_url"], timeout=10).json()["runtimeStatus"] in ("Pending", "Running")

    # The SDK's own client sees the instance and its input: the requester from the principal, the registration's
    # spec, the comment; no secret.
    status = served.durable(lambda client: client.get_status("onboarding-adatum.com", show_input=True))
    assert status.runtime_status.value in ("Pending", "Running")
    given = status.input_ if isinstance(status.input_, dict) else json.loads(status.input_)
    assert given["requested_by"] == REQUESTER
    assert given["remediation"] is False
    assert given["comment"] == "first; of two"
    assert given["spec"]["exchange"]["password_ref"] == "env:PUSHPROXY_TEST_HUNG_PASSWORD"

    view = wait_until(lambda: served.request("GET", "/api/onboardings/onboarding-adatum.com").json())
    assert view["id"] == "onboarding-adatum.com"
    assert view["tenant"] == "adatum.com"
    assert view["requested_by"] == REQUESTER
    assert {"phase", "plan", "approvals", "done", "runtime_status"} <= set(view)

    def running() -> Any:  # Pending until the host's activity workers pick it up
        found = served.request("GET", "/api/onboardings?status=Running").json()
        return found if "onboarding-adatum.com" in [row["id"] for row in found["onboardings"]] else None

    listed = wait_until(running)
    row = next(r for r in listed["onboardings"] if r["id"] == "onboarding-adatum.com")
    assert {"tenant", "runtime_status", "phase", "created"} <= set(row)
    assert served.request("GET", "/api/onboardings?status=Completed").json()["onboardings"] == []
    page = served.request("GET", "/api/onboardings?limit=1&offset=0").json()
    assert len(page["onboardings"]) == 1 and page["limit"] == 1
    assert error_of(served.request("GET", "/api/onboardings?status=Sleeping"))["field"] == "status"


def test_approval_while_nothing_waits_is_409(served: Served, silent_port: int) -> None:
    assert put_json(served, "/api/tenants/contoso.com", spec("contoso.com", silent_port)).status_code in (200, 201)
    started = post_json(served, "/api/tenants/contoso.com/onboarding", {})
    assert started.status_code == 202
    response = post_json(served, "/api/onboardings/onboarding-contoso.com/approval", {"decision": "approve"}, who=APPROVER)
    assert response.status_code == 409
    assert error_of(response)["code"] == "not_awaiting_approval"
    assert post_json(served, "/api/onboardings/onboarding-contoso.com/approval", {"decision": "approve"}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "decision"), ({"decision": "maybe"}, "decision"),
     ({"decision": "approve", "approver": "carol@provider.example"}, "approver"), ({"decision": "approve", "extra": 1}, "extra"),
     ({"decision": "approve", "comment": "ok\u202e"}, "comment"), ({"decision": "approve", "comment": "x" * 2001}, "comment")],
)
def test_bad_approval_bodies_are_refused(served: Served, body: dict[str, Any], field: str) -> None:
    response = post_json(served, "/api/onboardings/onboarding-contoso.com/approval", body, who=APPROVER)
    assert (response.status_code, error_of(response)["field"]) == (400, field)


# --------------------------------------------------------------------------------------------- the fleet


def test_the_fleet_lists_registered_tenants(served: Served) -> None:
    response = served.request("GET", "/api/tenants")
    assert response.status_code == 200
    assert response.json()["summary"] is None
    assert all(row["onboarded_at"] is None for row in response.json()["tenants"])


def test_verification_is_a_singleton(served: Served, silent_port: int) -> None:
    from pushproxy.registry import SqliteRegistry, TenantRecord

    with SqliteRegistry(served.registry_path) as registry:
        registry.put_tenant(TenantRecord("hung.example", spec("hung.example", silent_port),
                                         onboarded_at=registry_time()))
    first = served.request("POST", "/api/verifications", who=OPERATOR)
    assert first.status_code == 202, first.text
    run_id = first.json()["id"]
    assert re.fullmatch(r"verification-\d{8}T\d{6}\.\d{3}Z", run_id), run_id  # each run its own id
    # The hung tenant's Exchange never answers, so the verification is still running.
    second = post_json(served, "/api/verifications", {"tenants": ["hung.example"]})
    assert second.status_code == 409
    assert error_of(second)["id"] == run_id
    assert error_of(second)["status_url"] == first.json()["statusQueryGetUri"]
    running = served.request("GET", f"/api/verifications/{run_id}").json()
    assert running["runtime_status"] in ("Pending", "Running")
    listed = served.request("GET", "/api/verifications").json()
    assert listed["running"] == run_id
    # A batch sub-orchestration shares the prefix but is not a run; an unknown id is a 404.
    assert served.request("GET", "/api/verifications/verification-19990101T000000.000Z").status_code == 404
    assert served.request("GET", f"/api/verifications/{run_id}-abc-00000").status_code == 404


@pytest.mark.parametrize(("body", "field"), [({"tenants": []}, "tenants"), ({"tenants": ["bad domain"]}, "tenants[0]"),
                                             ({"other": 1}, "other")])
def test_bad_verification_requests_are_refused(served: Served, body: dict[str, Any], field: str) -> None:
    response = post_json(served, "/api/verifications", body)
    assert (response.status_code, error_of(response)["field"]) == (400, field)


def registry_time() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_the_document_is_deployed_with_the_app() -> None:
    # functions/http_api.py serves it from the package root: .funcignore must not leave it out.
    import pathspec

    ignore = REPO / ".funcignore"
    if not ignore.exists():
        pytest.skip(".funcignore not present")
    spec_ = pathspec.PathSpec.from_lines("gitwildmatch", ignore.read_text().splitlines())
    assert not spec_.match_file("openapi.json")


def test_a_tenant_recorded_before_registrations_stands_as_registered(served: Served, silent_port: int) -> None:
    """Migration: a registry record from an earlier onboarding (no registered_at) is the tenant's registration."""
    from pushproxy.registry import SqliteRegistry, TenantRecord

    with SqliteRegistry(served.registry_path) as registry:
        registry._put("tenant", "legacy.example", {  # as an earlier version wrote it, field for field
            "domain": "legacy.example", "spec": spec("legacy.example", silent_port),
            "onboarded_at": registry_time().isoformat(), "updated_at": registry_time().isoformat(),
            "last_onboarding_id": "onboarding-legacy.example"})
        assert TenantRecord.from_dict(registry._get("tenant", "legacy.example") or {}).registered_at is None
    view = served.request("GET", "/api/tenants/legacy.example").json()
    assert view["registered_by"] is None and view["spec"]["tenant_domain"] == "legacy.example"
    started = post_json(served, "/api/tenants/legacy.example/onboarding", {"comment": "after the upgrade"})
    assert started.status_code == 202, started.text
