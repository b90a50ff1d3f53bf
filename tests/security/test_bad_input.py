"""One validation, every door: each bad value is refused through the CLI (`pushproxy onboard --spec`) and through
the HTTP API (`PUT /api/tenants/{tenant}`), with the field named, no secret-looking value echoed, and zero
requests on either stand-in's journal. The spec around each bad value is a working one, pointed at the real
stand-ins: a value that slipped through would show up in the journals."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pushproxy.cli import main
from pushproxy.commands import exit_codes
from tests.api.served import OPERATOR, Served
from tests.e2e.conftest import DOMAIN, World

SECRET = "Sup3r-Secret-Pa55word!"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
NAN, INF = float("nan"), float("inf")

# (class, dotted path (a list index as .N), value, the field the refusal must name)
CASES: list[tuple[str, str, Any, str]] = [
    ("metacharacters", "exchange.username", "x'; Remove-AuthServer MicrosoftSts'", "exchange.username"),
    ("metacharacters", "exchange.username", "admin$(Get-Process)", "exchange.username"),
    ("metacharacters", "exchange.username", "svc push", "exchange.username"),
    ("metacharacters", "exchange.servers", ["exch01; Remove-Item"], "exchange.servers[0]"),
    ("metacharacters", "exchange.url", "https://127.0.0.1:1/PowerShell;x", "exchange.url"),
    ("metacharacters", "graph.ca_bundle", "/etc/pki/ca.pem|rm", "graph.ca_bundle"),
    ("metacharacters", "tenant_domain", "fabrikam;com", "tenant_domain"),
    ("control and invisible", "exchange.username", "svc\u202eevil", "exchange.username"),
    ("control and invisible", "exchange.username", "svc\u2028x", "exchange.username"),
    ("control and invisible", "exchange.username", "svc\u200b", "exchange.username"),
    ("control and invisible", "approval.approvers", ["alice\u200b"], "approval.approvers[0]"),
    ("control and invisible", "approval.approvers", ["bob\u202e"], "approval.approvers[0]"),
    ("control and invisible", "approval.approvers", ["eve\x00"], "approval.approvers[0]"),
    ("trailing line break", "exchange.servers", ["exch01\n"], "exchange.servers[0]"),
    ("trailing line break", "exchange.password_ref", "env:E2E_EXCHANGE_PASSWORD\n", "exchange.password_ref"),
    ("trailing line break", "exchange.windows_powershell_url", "https://{server}:5986/wsman\n", "exchange.windows_powershell_url"),
    ("trailing line break", "graph.client_id", CLIENT_ID + "\n", "graph.client_id"),
    ("trailing line break", "graph.secret_ref", "env:GRAPH_STANDIN_SECRET\n", "graph.secret_ref"),
    ("trailing line break", "tenant_domain", DOMAIN + "\n", "tenant_domain"),
    ("user:password@ in URLs", "graph.authority", "https://user:pw@127.0.0.1:1", "graph.authority"),
    ("user:password@ in URLs", "graph.graph_url", "https://user:pw@127.0.0.1:1", "graph.graph_url"),
    ("user:password@ in URLs", "exchange.url", "https://svc:pw@127.0.0.1:1/PowerShell", "exchange.url"),
    ("Unicode normalisation", "tenant_domain", "fabri\u212aam.com", "tenant_domain"),
    ("Unicode normalisation", "exchange.username", "\uff53\uff56\uff43", "exchange.username"),
    ("Unicode normalisation", "approval.approvers", ["\uff41lice"], "approval.approvers[0]"),
    ("types", "exchange.tls", False, "exchange.tls"),
    ("types", "exchange.servers", False, "exchange.servers"),
    ("types", "exchange.servers", "exch01", "exchange.servers"),
    ("types", "approval", [], "approval"),
    ("types", "approval.approvers", "alice", "approval.approvers"),
    ("types", "retry.max_attempts", "5", "retry.max_attempts"),
    ("types", "verification.restart_health_manager", "yes", "verification.restart_health_manager"),
    ("types", "exchange", "https://127.0.0.1:1/PowerShell", "exchange"),
    ("numbers", "retry.max_attempts", NAN, "retry.max_attempts"),
    ("numbers", "retry.max_attempts", INF, "retry.max_attempts"),
    ("numbers", "approval.timeout_s", -INF, "approval.timeout_s"),
    ("numbers", "verification.wait_s", NAN, "verification.wait_s"),
    ("numbers", "exchange.call_deadline_s", INF, "exchange.call_deadline_s"),
    ("numbers", "retry.max_attempts", 2.5, "retry.max_attempts"),
    ("numbers", "retry.max_attempts", 10**6, "retry.max_attempts"),
    ("length", "approval.approvers", ["a" * 10_000], "approval.approvers[0]"),
    ("secret never echoed", "exchange.auth", SECRET, "exchange.auth"),
    ("secret never echoed", "exchange.tls.mode", SECRET, "exchange.tls.mode"),
    ("secret never echoed", "exchange.password_ref", SECRET, "exchange.password_ref"),
    ("secret never echoed", "graph.secret_ref", SECRET, "graph.secret_ref"),
    ("secret never echoed", "graph.client_secret", SECRET, "graph.client_secret"),
    ("secret never echoed", "exchange.password", SECRET, "exchange.password"),
    ("secret never echoed", "graph.mode", SECRET, "graph.mode"),
]
# Whole documents: (class, the document's text, the field)
DOCUMENTS = [
    ("size", "{" + " " * (2 * 1024 * 1024) + "}", "body|spec"),
    ("nesting", '{"x":' * 5000 + "1" + "}" * 5000, "body|spec"),
    ("not JSON", "{not json", "body|spec"),
]


def with_value(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    node: Any = spec
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return spec


def case_id(case: tuple[str, str, Any, str]) -> str:
    return f"{case[0]}:{case[1]}={json.dumps(case[2])[:30]}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("bad-input"), roles={OPERATOR: ["operator", "requester", "approver"]})
    try:
        yield server
    finally:
        server.stop()


def refused_by_the_api(served: Served, body: str, domain: str = DOMAIN) -> tuple[int, dict[str, Any], str]:
    response = served.request("PUT", f"/api/tenants/{domain}", who=OPERATOR, data=body.encode("utf-8"),
                              headers={"Content-Type": "application/json"})
    if response.status_code in (200, 201):  # slipped through: start it, so the journals would show it
        served.request("POST", f"/api/tenants/{domain}/onboarding", who=OPERATOR, data=b"{}")
    return response.status_code, response.json(), response.text


def refused_by_the_cli(world: World, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = world.tmp / "bad-spec.json"
    path.write_text(text, encoding="utf-8")
    code = main(["onboard", "--spec", str(path), "--auto-approve", "--database", str(world.database), "--timeout", "30"])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def assert_nothing_reached(world: World) -> None:
    assert world.exchange.journal() == [], world.exchange.journal()[:3]
    assert world.graph.journal() == [], world.graph.journal()[:3]


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_refused_by_the_cli_naming_the_field(world: World, capsys: pytest.CaptureFixture[str],
                                            case: tuple[str, str, Any, str]) -> None:
    _, path, value, field = case
    code, output = refused_by_the_cli(world, json.dumps(with_value(world.spec_dict(), path, value)), capsys)
    assert code == exit_codes.BAD_INPUT, output
    assert f": {field}:" in output or f" {field}:" in output, output
    assert SECRET not in output
    assert_nothing_reached(world)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_refused_by_the_api_naming_the_field(world: World, served: Served, case: tuple[str, str, Any, str]) -> None:
    _, path, value, field = case
    domain = value.lower() if path == "tenant_domain" and isinstance(value, str) and "\n" not in value and ";" not in value else DOMAIN
    status, body, text = refused_by_the_api(served, json.dumps(with_value(world.spec_dict(), path, value)), domain)
    assert status == 400, text
    assert body["error"]["field"] in (field, "tenant"), body
    assert SECRET not in text
    assert_nothing_reached(world)


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_whole_documents_are_bounded_at_both_doors(world: World, served: Served, capsys: pytest.CaptureFixture[str],
                                                   document: tuple[str, str, str]) -> None:
    _, text, fields = document
    code, output = refused_by_the_cli(world, text, capsys)
    assert code == exit_codes.BAD_INPUT and "spec:" in output, output
    status, body, _ = refused_by_the_api(served, text)
    assert status in (400, 413) and body["error"]["field"] in fields.split("|"), body
    assert_nothing_reached(world)


def test_a_comment_may_hold_a_semicolon(served: Served, world: World) -> None:
    """The positive control: a comment goes to the audit only, so `;` is fine there (it was refused before); a
    bidirectional override is not."""
    path = "/api/onboardings/onboarding-nothing.example/approval"
    response = served.request("POST", path, who=OPERATOR,
                              data=json.dumps({"decision": "reject", "comment": "wrong server; use EXCH02"}))
    assert response.status_code == 404, response.text  # the comment passed; there is no such onboarding
    response = served.request("POST", path, who=OPERATOR, data=json.dumps({"decision": "reject", "comment": "ok\u202e"}))
    assert (response.status_code, response.json()["error"]["field"]) == (400, "comment")


def count_by_class() -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, *_ in CASES:
        counts[kind] = counts.get(kind, 0) + 1
    for kind, *_ in DOCUMENTS:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_the_table_covers_every_class_the_issue_names() -> None:
    assert set(count_by_class()) >= {"metacharacters", "control and invisible", "trailing line break",
                                     "user:password@ in URLs", "Unicode normalisation", "types", "numbers", "length",
                                     "secret never echoed", "size", "nesting"}
