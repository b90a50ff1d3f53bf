"""Throttling, permissions, policies and transport failures, as the workflow will see them."""

from __future__ import annotations

import pytest

from pushproxy.errors import TenantError
from pushproxy.tenant.client import discover_tenant, require_verified_domain
from pushproxy.tenant.models import PROBLEM_DOMAIN_NOT_VERIFIED, PROBLEM_PERMISSION_MISSING
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, graph_calls, run


def _add(graph: StandIn, der: bytes, **kw: float) -> object:
    async def go() -> object:
        async with client_for(graph, **kw) as c:  # type: ignore[arg-type]
            return await c.add_certificate_key(der)

    return run(go())


def test_429_then_success_honours_retry_after(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    graph.faults(
        [
            {
                "when": {"operation": "PATCH /v1.0/servicePrincipals"},
                "fail": {"kind": "http", "status": 429, "retry_after_s": 1},
                "times": 1,
            }
        ]
    )
    change = _add(graph, certs[0][0])
    assert change.action == "added"  # type: ignore[attr-defined]
    patches = [e for e in graph.journal() if e["operation"].startswith("PATCH")]
    assert [p["status"] for p in patches] == [429, 204]
    assert patches[0]["outcome"] == "fault"


def test_503_on_read_is_retried(graph: StandIn) -> None:
    graph.faults(
        [
            {
                "when": {"operation": "GET /v1.0/organization"},
                "fail": {"kind": "http", "status": 503, "retry_after_s": 0},
                "times": 2,
            }
        ]
    )

    async def go() -> str:
        async with client_for(graph) as c:
            return (await c.get_tenant_facts()).tenant_id

    assert run(go()) == graph.tenant_id
    assert [e["status"] for e in graph.journal() if e["endpoint"] == "/v1.0/organization"] == [503, 503, 200]


def test_retry_budget_bounds_the_total_wait(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # Retry-After 2 s against a budget of 3 s: one retry (2 s), then the next wait would pass the budget.
    graph.faults(
        [
            {
                "when": {"operation": "GET /v1.0/servicePrincipals"},
                "fail": {"kind": "http", "status": 429, "retry_after_s": 2},
            }
        ]
    )
    with pytest.raises(TenantError) as err:
        _add(graph, certs[0][0], max_retry_wait_s=3.0)
    assert err.value.transient and err.value.status == 429 and err.value.code == "TooManyRequests"
    assert "throttling" in str(err.value)
    assert len(graph_calls(graph)) == 2
    assert err.value.request_id  # Graph's request id travels with the error


def test_403_without_application_readwrite_all(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    state = graph.state()
    state["applications"][graph.client_id]["roles"] = ["Organization.Read.All", "Application.Read.All"]
    graph.put_state(state)
    with pytest.raises(TenantError) as err:
        _add(graph, certs[0][0])
    e = err.value
    assert (e.status, e.code, e.transient) == (403, "Authorization_RequestDenied", False)
    assert "has not been granted Application.ReadWrite.All" in str(e)
    assert e.request_id


def test_discovery_reports_the_missing_permission_before_any_write(graph: StandIn) -> None:
    state = graph.state()
    state["applications"][graph.client_id]["roles"] = ["Organization.Read.All", "Application.Read.All"]
    graph.put_state(state)

    async def go() -> object:
        async with client_for(graph) as c:
            return await discover_tenant(c, "fabrikam.com")

    found = run(go())
    assert [p.code for p in found.blocking] == [PROBLEM_PERMISSION_MISSING]  # type: ignore[attr-defined]


def test_unverified_tenant_domain_is_a_clear_blocking_problem(graph: StandIn) -> None:
    async def go() -> object:
        async with client_for(graph) as c:
            return await discover_tenant(c, "contoso.com")

    found = run(go())
    assert found.domain_verified is False  # type: ignore[attr-defined]
    problem = found.blocking[0]  # type: ignore[attr-defined]
    assert problem.code == PROBLEM_DOMAIN_NOT_VERIFIED
    assert "contoso.com is not a verified domain of the tenant Fabrikam" in problem.message
    assert "fabrikam.com" in problem.message
    with pytest.raises(TenantError) as err:
        require_verified_domain(found)  # type: ignore[arg-type]
    assert err.value.code == "DomainNotVerified"


def test_discovery_of_a_ready_tenant(graph: StandIn) -> None:
    async def go() -> object:
        async with client_for(graph) as c:
            return await discover_tenant(c, "Fabrikam.COM.")

    found = run(go())
    assert found.blocking == () and found.domain_verified  # type: ignore[attr-defined]
    assert found.service_principal.has_key("2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D")  # type: ignore[attr-defined]
    assert len(graph_calls(graph)) == 2  # organization, service principal


def test_app_management_policy_refusing_a_5_year_certificate(graph: StandIn) -> None:
    from tests.support.graph_standin import make_certificate

    state = graph.state()
    state["tenants"][graph.tenant_id]["policies"]["maxCertificateLifetimeDays"] = 365
    graph.put_state(state)
    der, _ = make_certificate(days=5 * 365)
    with pytest.raises(TenantError) as err:
        _add(graph, der)
    assert err.value.status == 400 and not err.value.transient
    assert "app-management policy refuses this certificate" in str(err.value)


def test_locked_service_principal(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    state = graph.state()
    state["tenants"][graph.tenant_id]["policies"]["locked"] = True
    graph.put_state(state)
    with pytest.raises(TenantError) as err:
        _add(graph, certs[0][0])
    assert "service principal is locked" in str(err.value)
    assert not err.value.transient


def test_dropped_connection_is_transient(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    graph.faults([{"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": {"kind": "drop"}}])
    with pytest.raises(TenantError) as err:
        _add(graph, certs[0][0])
    assert err.value.transient and err.value.code == "ConnectionFailed"


def test_expired_token_is_refused_by_graph(graph: StandIn) -> None:
    state = graph.state()
    state["settings"]["tokenLifetimeS"] = -120
    graph.put_state(state)

    async def go() -> object:
        async with client_for(graph) as c:
            return await c.get_tenant_facts()

    with pytest.raises(TenantError) as err:
        run(go())
    assert err.value.status == 401


def test_429_without_retry_after_recovers_with_backoff(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # Graph's 429s do not always carry Retry-After, and the body may say UnknownError.
    graph.faults(
        [
            {
                "when": {"operation": "PATCH /v1.0/servicePrincipals"},
                "fail": {"kind": "http", "status": 429, "code": "UnknownError", "message": ""},
                "times": 2,
            }
        ]
    )
    change = _add(graph, certs[1][0])
    assert change.action == "added"  # type: ignore[attr-defined]
    patches = [e for e in graph.journal() if e["operation"].startswith("PATCH")]
    assert [p["status"] for p in patches] == [429, 429, 204]


def test_backoff_without_retry_after_is_capped_exponential_with_jitter() -> None:
    import httpx
    from kiota_http.middleware.options import RetryHandlerOption

    from pushproxy.tenant.graph import BACKOFF_CAP_S, BoundedRetryHandler

    handler = BoundedRetryHandler(RetryHandlerOption(delay=0.0, max_retries=10), max_total_wait_s=1e9, backoff_base_s=1.0)
    response = httpx.Response(429, request=httpx.Request("GET", "https://graph.example/v1.0/x"))
    for n in range(8):
        waits = {handler.get_delay_time(n, response) for _ in range(20)}
        top = min(BACKOFF_CAP_S, 2.0**n)
        assert all(top / 2 <= w <= top for w in waits)
        assert len(waits) > 1  # jitter: workers throttled together do not come back together


def test_unknown_error_500_is_transient_and_carries_the_ids(graph: StandIn) -> None:
    graph.faults(
        [
            {
                "when": {"operation": "GET /v1.0/organization"},
                "fail": {"kind": "http", "status": 500, "code": "UnknownError", "message": ""},
            }
        ]
    )

    async def go() -> object:
        async with client_for(graph, max_retry_wait_s=0.5) as c:
            return await c.get_tenant_facts()

    with pytest.raises(TenantError) as err:
        run(go())
    e = err.value
    assert e.transient and e.code == "UnknownError" and e.status == 500
    last = [x for x in graph.journal() if x["endpoint"] == "/v1.0/organization"][-1]
    assert e.request_id == last["request_id"] and f"request-id {e.request_id}" in str(e)
    assert "date " in str(e)


def test_400_that_cannot_succeed_is_permanent(graph: StandIn) -> None:
    graph.faults(
        [
            {
                "when": {"operation": "GET /v1.0/organization"},
                "fail": {"kind": "http", "status": 400, "code": "Request_BadRequest", "message": "Invalid request."},
            }
        ]
    )

    async def go() -> object:
        async with client_for(graph) as c:
            return await c.get_tenant_facts()

    with pytest.raises(TenantError) as err:
        run(go())
    assert not err.value.transient and err.value.request_id
    assert len([x for x in graph.journal() if x["endpoint"] == "/v1.0/organization"]) == 1  # never retried
