"""Nothing a caller sends can make the service present a secret to a host the operator did not bind it to.

A listener on loopback stands in for an attacker's host, over both protocols (a WSMan endpoint that challenges
for Basic, Negotiate, NTLM and Kerberos; an Entra ID token endpoint with its OpenID configuration), with and
without TLS (trusted through the spec's own CA bundle, so TLS is no obstacle). Every secret-bearing field is
pointed at it: through `pushproxy serve` (the Durable webhook starts an onboarding with any input it is given,
which is how a caller of the management API would try) and through the CLI. It must receive no credential.
The control case shows the listener does catch a secret presented to it: the binding is what stops it.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pushproxy.cli import main
from pushproxy.secrets import tenant_env_name
from tests.api.served import OPERATOR, Served
from tests.security.attacker import Attacker
from tests.support.graph_standin import make_certificate

CLOSED = "127.0.0.1:9"  # the discard port: the registered endpoints refuse connections (they are never the point)
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
PASSWORD = "EXFIL-password-" + secrets.token_hex(8)
GRAPH_SECRET = "EXFIL-client-secret-" + secrets.token_hex(8)
KEYTAB = "EXFIL-keytab-" + secrets.token_hex(8)
PEM_PASSWORD = "EXFIL-pem-password-" + secrets.token_hex(8)
_, PEM = make_certificate("CN=pushproxy test app")
SECRETS = [PASSWORD, GRAPH_SECRET, KEYTAB, PEM_PASSWORD, PEM.split("\n")[1]]


def registration(domain: str, *, graph_mode: str = "secret", auth: str = "basic") -> dict[str, Any]:
    """What the operator registered: every endpoint on the closed port."""
    exchange: dict[str, Any] = {"url": f"https://{CLOSED}/PowerShell", "auth": auth, "username": "svc-push@fabrikam.com",
                                "connect_timeout_s": 2, "call_deadline_s": 10}
    if auth == "kerberos":
        exchange["keytab_ref"] = "env:EXCHANGE_KEYTAB"
    else:
        exchange["password_ref"] = "env:EXCHANGE_PASSWORD"
    graph: dict[str, Any] = {"mode": graph_mode, "client_id": CLIENT_ID, "authority": f"https://{CLOSED}",
                             "graph_url": f"https://{CLOSED}"}
    if graph_mode == "secret":
        graph["secret_ref"] = "env:GRAPH_SECRET"
    else:
        graph.update(certificate_ref="env:GRAPH_PEM", certificate_password_ref="env:GRAPH_PEM_PASSWORD")
    return {"tenant_domain": domain, "tenant_id": TENANT_ID, "exchange": exchange, "graph": graph,
            "approval": {"policy": "auto"}, "retry": {"first_retry_interval_s": 0.1, "max_attempts": 1},
            "verification": {"wait_s": 0, "probe_deadline_s": 0}}


def tenant_secrets(domain: str) -> dict[str, str]:
    return {tenant_env_name(domain, "EXCHANGE_PASSWORD"): PASSWORD, tenant_env_name(domain, "GRAPH_SECRET"): GRAPH_SECRET,
            tenant_env_name(domain, "EXCHANGE_KEYTAB"): KEYTAB, tenant_env_name(domain, "GRAPH_PEM"): PEM,
            tenant_env_name(domain, "GRAPH_PEM_PASSWORD"): PEM_PASSWORD}


REGISTERED = {"fabrikam.com": registration("fabrikam.com"), "contoso.com": registration("contoso.com", graph_mode="certificate"),
              "adatum.com": registration("adatum.com", auth="kerberos"), "ntlm.example": registration("ntlm.example", auth="ntlm")}


def at_exchange(spec: dict[str, Any], attacker: Attacker, auth: str) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["exchange"]["url"] = f"{attacker.url}/PowerShell"
    spec["exchange"]["auth"] = auth
    if attacker.tls:
        spec["exchange"]["tls"] = {"mode": "ca_bundle", "ca_bundle": str(attacker.cert_path)}
    return spec


def at_graph(spec: dict[str, Any], attacker: Attacker) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["graph"]["authority"] = spec["graph"]["graph_url"] = attacker.url
    if attacker.tls:
        spec["graph"]["ca_bundle"] = str(attacker.cert_path)
    return spec


# (case name, tenant, TLS, how the spec is turned towards the attacker)
CASES = [
    ("exchange.password_ref basic over https", "fabrikam.com", True, lambda s, a: at_exchange(s, a, "basic")),
    ("exchange.password_ref ntlm over http", "ntlm.example", False, lambda s, a: at_exchange(s, a, "ntlm")),
    ("exchange.password_ref negotiate over http", "ntlm.example", False, lambda s, a: at_exchange(s, a, "negotiate")),
    ("exchange.keytab_ref kerberos over http", "adatum.com", False, lambda s, a: at_exchange(s, a, "kerberos")),
    ("exchange.keytab_ref kerberos over https", "adatum.com", True, lambda s, a: at_exchange(s, a, "kerberos")),
    ("graph.secret_ref over https", "fabrikam.com", True, at_graph),
    ("graph.secret_ref over http", "fabrikam.com", False, at_graph),
    ("graph.certificate_ref and certificate_password_ref over https", "contoso.com", True, at_graph),
    ("both sides at once over https", "fabrikam.com", True, lambda s, a: at_graph(at_exchange(s, a, "basic"), a)),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {k: v for domain in REGISTERED for k, v in tenant_secrets(domain).items()}
    server = Served(tmp_path_factory.mktemp("exfiltration"), env, roles={OPERATOR: ["operator"]})
    try:
        for domain, spec in REGISTERED.items():
            assert server.register(domain, spec).status_code == 201
        yield server
    finally:
        server.stop()


def finished(served: Served, instance_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(f"{served.base_url}/runtime/webhooks/durabletask/instances/{instance_id}", timeout=10).json()
        if status.get("runtimeStatus") in ("Completed", "Failed", "Terminated"):
            return dict(status)
        time.sleep(0.2)
    raise AssertionError(f"{instance_id} did not finish\n{served.log_path.read_text()[-3000:]}")


@pytest.mark.parametrize(("name", "domain", "tls", "turn"), CASES, ids=[c[0] for c in CASES])
def test_an_onboarding_started_with_any_input_presents_no_secret_to_another_host(
    served: Served, tmp_path: Path, name: str, domain: str, tls: bool, turn: Any
) -> None:
    with Attacker(tls, tmp_path) as attacker:
        evil = turn(REGISTERED[domain], attacker)
        instance_id = f"attack-{secrets.token_hex(4)}"
        started = requests.post(
            f"{served.base_url}/runtime/webhooks/durabletask/orchestrators/onboarding/{instance_id}",
            data=json.dumps({"spec": evil, "requested_by": "mallory@attacker.example"}), timeout=10)
        assert started.status_code == 202, started.text
        status = finished(served, instance_id)
        assert attacker.credentials(SECRETS) == [], name
        # Refused before any connection: the listener heard nothing at all.
        assert attacker.received == [], [(r.method, r.path) for r in attacker.received]
    output = status.get("output") or {}
    # Refused by the binding (the run's outcome is failed), or by validation (an http authority: the orchestration
    # itself refuses its input).
    assert (isinstance(output, dict) and output.get("outcome") == "failed") or status["runtimeStatus"] == "Failed", status
    for secret in SECRETS:
        assert secret not in json.dumps(status)


# --------------------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's registry with the operator's registrations, and every tenant's secrets in the environment."""
    from pushproxy.onboarding.runner import register_locally
    from pushproxy.spec import TenantSpec

    monkeypatch.setenv("PUSHPROXY_REGISTRY_PATH", str(tmp_path / "registry.sqlite"))
    for domain, spec in REGISTERED.items():
        for key, value in tenant_secrets(domain).items():
            monkeypatch.setenv(key, value)
        register_locally(TenantSpec.from_dict(spec), "operator")
    return tmp_path


def _spec_file(directory: Path, spec: dict[str, Any]) -> str:
    path = directory / f"spec-{secrets.token_hex(3)}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("name", "domain", "tls", "turn"), CASES, ids=[c[0] for c in CASES])
def test_another_tenants_secrets_are_out_of_reach_of_a_spec_file(
    local: Path, name: str, domain: str, tls: bool, turn: Any
) -> None:
    """A spec file for an unregistered tenant that names the registered tenants' references (and their variables
    by full name) resolves them in its own namespace: nothing to present, whichever command runs it."""
    with Attacker(tls, local) as attacker:
        evil = turn(REGISTERED[domain], attacker)
        evil["tenant_domain"] = "evil.example"
        full_names = copy.deepcopy(evil)
        for side, key in (("exchange", "password_ref"), ("exchange", "keytab_ref"), ("graph", "secret_ref"),
                          ("graph", "certificate_ref"), ("graph", "certificate_password_ref")):
            ref = full_names[side].get(key)
            if ref:
                full_names[side][key] = f"env:{tenant_env_name(domain, ref.split(':', 1)[1])}"
        for spec in (evil, full_names):
            path = _spec_file(local, spec)
            database = str(local / "local.sqlite")
            assert main(["onboard", "--spec", path, "--dry-run", "--database", database]) != 0
            assert main(["onboard", "--spec", path, "--auto-approve", "--json", "--database", database,
                         "--timeout", "60"]) != 0
            if "exchange" in name or "both" in name:
                assert main(["exchange", "inspect", "--spec", path, "--timeout", "5"]) != 0
        assert attacker.credentials(SECRETS) == [], name
        # `exchange inspect` asks the endpoint what it offers before signing in (an empty POST, no credential).
        assert all(r.body == b"" for r in attacker.received)


def test_the_cli_resuming_an_onboarding_started_elsewhere_presents_nothing(local: Path) -> None:
    """An onboarding of a registered tenant started on the shared database with another tenant's endpoints (as the
    unauthenticated Durable webhook of `pushproxy serve` would): the CLI carries it on, the binding refuses."""
    from pushproxy.onboarding import runner

    with Attacker(True, local) as attacker:
        evil = at_graph(at_exchange(REGISTERED["fabrikam.com"], attacker, "basic"), attacker)
        host = runner.open_host(local / "local.sqlite")
        try:
            host.start_new("onboarding", "onboarding-fabrikam.com", {"spec": evil, "requested_by": "mallory"})
        finally:
            host.close()
        path = _spec_file(local, REGISTERED["fabrikam.com"])
        assert main(["onboard", "--spec", path, "--auto-approve", "--json", "--database", str(local / "local.sqlite"),
                     "--timeout", "60"]) != 0
        assert attacker.received == []


def test_control_the_listener_catches_a_secret_presented_to_it(local: Path) -> None:
    """Without this, the tests above could pass because nothing ever talks to the listener. Here the operator's
    own spec file binds the secret to the listener, and it arrives."""
    with Attacker(True, local) as attacker:
        spec = at_exchange(REGISTERED["fabrikam.com"], attacker, "basic")
        main(["onboard", "--spec", _spec_file(local, spec), "--dry-run", "--database", str(local / "local.sqlite")])
        assert attacker.credentials([PASSWORD]), [(r.method, r.path, r.headers) for r in attacker.received]
