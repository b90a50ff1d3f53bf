from __future__ import annotations

import json
from datetime import UTC, datetime

from pushproxy.certs import parse_certificate
from pushproxy.exchange.models import (
    AuthConfig,
    AuthServer,
    AuthServerChange,
    BlockingProblem,
    ExchangeDiscovery,
    ExchangeServer,
    ProbeResult,
    PushProxyState,
    ServerCertificate,
)
from tests.exchange.certgen import make_der


def sample_discovery() -> ExchangeDiscovery:
    cert = parse_certificate(make_der())
    return ExchangeDiscovery(
        realm="fabrikam.com",
        servers=(ExchangeServer("EX1", "ex1.fabrikam.com", ("Mailbox",), True, True, False, "15.2.1748.10", "Version 15.2 (Build 1748.10)", "Exchange 2019 CU15", True),),
        auth_config=AuthConfig(cert.thumbprint, None, datetime(2030, 1, 1, tzinfo=UTC), None, "00000002-0000-0ff1-ce00-000000000000", None),
        auth_certificates=(ServerCertificate("EX1", cert.thumbprint, "current", True, cert), ServerCertificate("EX2", cert.thumbprint, "current", False, None, "not found")),
        auth_servers=(AuthServer("ACS - 1", "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=fabrikam.com", None, True),),
        push_proxy=PushProxyState(True, True, "fabrikam.com", "https://outlook.office365.com/PushNotifications", "OnPrem-Proxy"),
        blocking=(BlockingProblem("auth_certificate_missing", "missing on EX2", "EX2"),),
        facts=("a fact",),
    )


def test_discovery_survives_a_trip_through_json() -> None:
    d = sample_discovery()
    plain = json.loads(json.dumps(d.to_dict()))
    assert ExchangeDiscovery.from_dict(plain) == d
    assert plain["auth_config"]["next_effective_date"] == "2030-01-01T00:00:00+00:00"
    assert d.current_certificate is not None and d.next_certificate is None


def test_small_values_round_trip() -> None:
    for value in (
        ProbeResult("EX1", "Succeeded", None, None, True),
        AuthServerChange("created", AuthServer("MicrosoftSts", "https://x/", "fabrikam.com", True), "created"),
        PushProxyState(False, False, None, None),
    ):
        assert type(value).from_dict(json.loads(json.dumps(value.to_dict()))) == value
