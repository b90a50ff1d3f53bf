"""Exactly once under slow answers: a change slower than the client's call deadline is looked for before it is
made again, for every change kind, so each lands once (proved from the stand-ins' journals and state)."""

from __future__ import annotations

from typing import Any

import pytest

from pushproxy.certs import subject_key_identifier
from tests.e2e.conftest import World, count_ok

SLOW_S = 4.0
DEADLINE_S = 2.0


def expired_certificate(world: World) -> str:
    """Every change kind is planned: a new certificate, its import to the other AD site, the AuthServer, the key,
    the assignment and the proxy."""
    org = world.org()
    servers = [s["name"] for s in org["servers"]]
    org["certificates"] = [
        {"thumbprint": "OLD", "not_before": "2019-01-01T00:00:00+00:00", "not_after": "2024-01-01T00:00:00+00:00",
         "servers": servers}
    ]
    org["auth_config"] = {**org["auth_config"], "current": "OLD"}
    world.put_org(org)
    return str(world.org()["auth_config"]["current"])  # the stand-in makes a real certificate of "OLD"


def slow_spec(world: World) -> Any:
    return world.spec(exchange={"call_deadline_s": DEADLINE_S, "operation_timeout_s": 1},
                      retry={"first_retry_interval_s": 0.2, "max_attempts": 6})


@pytest.mark.parametrize(
    "cmdlet",
    ["New-ExchangeCertificate", "Import-ExchangeCertificate", "New-AuthServer", "Set-AuthConfig",
     "Enable-PushNotificationProxy"],
)
def test_a_change_slower_than_the_call_deadline_is_made_once(world: World, cmdlet: str) -> None:
    expired = expired_certificate(world)
    world.exchange.faults([{"when": {"cmdlet": cmdlet}, "fail": {"kind": "delay", "delay_s": SLOW_S}, "times": 1}])

    report = world.onboard(slow_spec(world))

    assert report["outcome"] == "done", report
    journal = world.exchange.journal()
    for made in ("New-ExchangeCertificate", "Import-ExchangeCertificate", "New-AuthServer",
                 "Enable-PushNotificationProxy"):
        assert count_ok(journal, made) == 1, (made, [e["operation"] for e in journal])
    # Set-AuthConfig -CertificateThumbprint: once (it is the only Set-AuthConfig of the run).
    assert count_ok(journal, "Set-AuthConfig") == 1
    org = world.org()
    new = [c for c in org["certificates"] if c["thumbprint"] != expired]
    assert len(new) == 1, new  # one certificate, never two
    assert org["auth_config"]["current"] == new[0]["thumbprint"]
    assert len(org["auth_servers"]) == 1
    # The one certificate carries this change's marker, which is what the re-check looked for.
    created = next(c for c in report["changes"] if c["kind"] == "create_auth_certificate")
    assert created["outcome"] == "created"
    assert len(world.writes()[1]) == 1  # and the key went up once


def test_the_new_certificate_carries_the_operation_marker(world: World) -> None:
    import base64

    from pushproxy.exactly_once import certificate_marker, operation_id

    expired_certificate(world)
    report = world.onboard(slow_spec(world))
    assert report["outcome"] == "done"
    thumbprint = world.org()["auth_config"]["current"]
    state = world.exchange.state()["organizations"]["fabrikam.com"]
    der = next(base64.b64decode(c["der"]) for c in state["certificates"] if c["thumbprint"] == thumbprint)
    from datetime import datetime

    started = datetime.fromisoformat(report["started_at"])
    assert subject_key_identifier(der) == certificate_marker(
        operation_id("onboarding-fabrikam.com", started, "create_auth_certificate"))


def test_a_restart_whose_answer_was_lost_is_not_made_again(world: World) -> None:
    """The restart step run twice for one request (a retry, or a host killed after Restart-Service landed):
    the second finds MSExchangeHMHost started after the request (Get-Process StartTime) and restarts nothing."""
    from datetime import UTC, datetime

    from pushproxy.onboarding import steps
    from pushproxy.onboarding.runner import register_locally

    spec = world.spec(exchange={"windows_powershell_url": f"{world.exchange.base_url}/wsman"})
    register_locally(spec, "operator")  # the registration binds the password to the Windows PowerShell host
    server = world.org()["servers"][0]["name"]
    payload = {"spec": spec.to_dict(), "server": server, "requested_at": datetime.now(UTC).isoformat()}

    first = steps.restart_health_manager(payload)
    again = steps.restart_health_manager(payload)

    assert (first["action"], again["action"]) == ("restarted", "none")
    restarts = [e for e in world.exchange.journal() if e["operation"] == "Restart-Service" and e["outcome"] == "ok"]
    assert len(restarts) == 1
    # A later request is a new change: it restarts again.
    later = {**payload, "requested_at": datetime.now(UTC).isoformat()}
    assert steps.restart_health_manager(later)["action"] == "restarted"
