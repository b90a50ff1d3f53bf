"""The onboarding orchestrator on a dedicated-app organisation, with stub activities (no stand-in): the tenant is
read again with the appId Exchange names, the plan uploads the key the app lacks, and the upload step gets it."""

from __future__ import annotations

from typing import Any

from pushproxy.exchange.models import ExchangeDiscovery
from pushproxy.local import LocalHost
from pushproxy.outcome import ok
from pushproxy.tenant.models import TenantDiscovery
from tests.hybrid.test_plan_hybrid import APP, hybrid_exchange, hybrid_tenant
from tests.orchestrators.test_onboarding_decisions import Clock, app, calls, clock, ended, host, run, script  # noqa: F401
from tests.unit.test_plan import THUMB, tenant


def test_the_tenant_is_read_again_with_the_app_exchange_names_and_the_app_gets_the_key(
        host: LocalHost, clock: Clock) -> None:  # noqa: F811
    ex = hybrid_exchange()
    # The exchange result carries the current certificate's public DER for the upload step.
    found = ExchangeDiscovery.from_dict(ex)
    assert found.current_certificate is not None

    def tenant_for(payload: dict[str, Any]) -> Any:
        if payload.get("hybrid_app_ids") == [APP]:
            return ok(hybrid_tenant((THUMB,), ()), "none")  # the app lacks the current key
        return ok(TenantDiscovery.from_dict(tenant()).to_dict(), "none")

    script(discover_exchange=[ok(ex, "none")], discover_tenant=[tenant_for],
           upload_tenant_key=[ok({"thumbprints": [THUMB], "targets": []}, "added")])
    ended(run(host, clock), "done")
    assert [p.get("hybrid_app_ids") for p in calls("discover_tenant")][:2] == [None, [APP]]
    (upload,) = calls("upload_tenant_key")
    assert upload["change"]["details"]["thumbprint"] == THUMB
