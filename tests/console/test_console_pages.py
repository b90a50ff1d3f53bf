"""The console without a browser: the plan diff, escaping, the CSRF rules and token, the pages' headers, and
`pushproxy serve --principal` (loopback only). Fast: pure functions, and one `pushproxy serve` for the HTTP rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pushproxy.console import csrf, diff, model, pages
from pushproxy.errors import SpecError
from tests.api.served import APPROVER, REQUESTER, Served

KEY = b"k" * 32


def test_upload_shows_thumbprint_validity_and_target_never_key_material() -> None:
    change = {"kind": "upload_tenant_key", "group": "tenant", "summary": "Add the key",
              "details": {"service_principal_id": "sp-1", "keys": [
                  {"thumbprint": "AB12", "source": "discovery", "not_after": "2031-12-01T00:00:00+00:00",
                   "der_b64": "MIIB-secret-looking", "key_b64": "MIIB"}]}}
    view = diff.change_view(change)
    assert view.keys == (diff.KeyRow("add", "AB12", "valid until 2031-12-01T00:00:00+00:00",
                                     "Exchange Online service principal sp-1 (keyCredentials)"),)
    assert "MIIB" not in repr(view)


def test_settings_change_from_to_on_each_server() -> None:
    rows = diff.change_view({"kind": "import_auth_certificate", "group": "on_premises", "summary": "Copy",
                             "details": {"from": "EX1", "servers": ["EX2", "EX3"]}}).rows
    assert [(r.where, r.before) for r in rows] == [("EX2", "absent"), ("EX3", "absent")]
    assert all("copied from EX1" in r.after for r in rows)
    proxy = diff.change_view({"kind": "enable_push_proxy", "group": "on_premises", "summary": "Enable",
                              "details": {"organization": "fabrikam.com", "was": {"enabled": False, "organization": None}}})
    assert [(r.setting, r.before, r.after) for r in proxy.rows] == [("Enabled", "no", "yes"),
                                                                     ("Organization", "none", "fabrikam.com")]


def test_a_script_in_a_tenant_value_is_escaped() -> None:
    view = {"id": "onboarding-x.example", "tenant": "<script>alert(1)</script>", "runtime_status": "Running",
            "phase": "awaiting_approval", "requested_by": "a@x", "plan": [
                {"kind": "enable_push_proxy", "group": "on_premises", "summary": "<img src=x onerror=alert(2)>",
                 "details": {}}],
            "awaiting": {"group": "on_premises", "state_hash": "ab" * 32, "deadline": "2026-12-05T00:00:00+00:00"},
            "approvals": [{"group": "on_premises", "decision": "approve", "approver": "b@x", "comment": "<b>hi</b>",
                           "time": "2026-12-02T00:00:00+00:00"}], "custom": {}}
    html = pages.render("workflow.html", principal="<i>me</i>", page=model.workflow_page(view, "onboarding"),
                        token="t", error=None, decided=None, cannot_decide=None)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>hi</b>" not in html and "<i>me</i>" not in html
    assert "<script>" not in html.replace('<script src="/api/console/static/console.js" defer></script>', "")


def test_console_orders_waiting_oldest_first_and_counts_the_fleet() -> None:
    def v(i: str, created: str, phase: str = "awaiting_approval") -> tuple[str, dict[str, Any]]:
        return "onboarding", {"id": f"onboarding-{i}", "runtime_status": "Running", "phase": phase, "created": created}

    page = model.console_page([v("b", "2026-12-02"), v("a", "2026-12-01"), v("c", "2026-12-03", "applying")],
                              {"tenants": [{"tenant": "x", "state": "healthy"}, {"tenant": "y", "state": "failing",
                                                                                 "reasons": ["probe failed"]}]})
    assert [r.id for r in page.waiting] == ["onboarding-a", "onboarding-b"]
    assert [r.id for r in page.running] == ["onboarding-c"]
    assert dict((s, n) for s, _, n in page.fleet.counts) == {"healthy": 1, "drifting": 0, "failing": 1}
    assert [t["tenant"] for t in page.fleet.attention] == ["y"]


@pytest.mark.parametrize("headers", [
    {},  # a non-browser: neither header
    {"Origin": "https://evil.example"},
    {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "null"},
])
def test_other_origins_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(csrf.CsrfRefused):
        csrf.check_same_origin(headers, {"http://127.0.0.1:8000"})


def test_the_consoles_own_origin_passes() -> None:
    csrf.check_same_origin({"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}, {"http://127.0.0.1:8000"})
    assert csrf.origin_of("HTTPS://Func.Example:443/api/console") == "https://func.example"


def test_a_token_is_worth_nothing_for_another_person_workflow_or_plan() -> None:
    token = csrf.decision_token(KEY, "bob@x", "onboarding-a", "ab" * 32)
    csrf.check_token(KEY, token, "bob@x", "onboarding-a", "ab" * 32)
    for principal, instance, state in (("eve@x", "onboarding-a", "ab" * 32), ("bob@x", "onboarding-b", "ab" * 32),
                                       ("bob@x", "onboarding-a", "cd" * 32)):
        with pytest.raises(csrf.CsrfRefused):
            csrf.check_token(KEY, token, principal, instance, state)
    with pytest.raises(csrf.CsrfRefused):
        csrf.check_token(b"another key".ljust(32), token, "bob@x", "onboarding-a", "ab" * 32)


def test_principal_flag_only_on_loopback() -> None:
    from pushproxy.commands.serve import fixed_principal

    assert fixed_principal("bob@x.example", "127.0.0.1") == {"X-MS-CLIENT-PRINCIPAL-NAME": "bob@x.example"}
    assert fixed_principal(None, "0.0.0.0") == {}
    with pytest.raises(SpecError, match="--principal"):
        fixed_principal("bob@x.example", "0.0.0.0")
    with pytest.raises(SpecError, match="--principal"):
        fixed_principal("bob\u200b@x.example", "127.0.0.1")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("console-http"))
    try:
        yield server
    finally:
        server.stop()


def test_pages_carry_a_strict_csp_and_need_a_role(served: Served) -> None:
    page = served.request("GET", "/api/console", who=REQUESTER)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"] == pages.CSP and "'unsafe-inline'" not in pages.CSP
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    assert served.request("GET", "/api/console", who=None).status_code == 403
    assert served.request("GET", "/api/console", who="stranger@x.example").status_code == 403
    assert served.request("GET", "/api/console/static/console.css", who=None).status_code == 200
    assert served.request("GET", "/api/console/static/..%2Fpages.py", who=None).status_code == 404
    assert served.request("GET", "/api/console/workflows/verification-x", who=REQUESTER).status_code == 404


def test_a_decision_without_origin_or_with_a_forged_token_is_refused(served: Served) -> None:
    path = "/api/console/workflows/onboarding-fabrikam.com/decision"
    form = {"decision": "approve", "state_hash": "ab" * 32, "csrf_token": "forged"}
    bare = served.request("POST", path, who=APPROVER, data=form)
    assert bare.status_code == 403 and "Origin" in bare.text
    forged = served.request("POST", path, who=APPROVER, data=form, headers={"Origin": served.base_url})
    assert forged.status_code == 403 and "token" in forged.text
    elsewhere = served.request("POST", path, who=APPROVER, data=form, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403


def test_a_rotation_waiting_on_its_plan_shows_the_new_certificate_and_its_steps() -> None:
    view = {"id": "rotation-x.example", "tenant": "x.example", "runtime_status": "Running", "phase": "awaiting_approval",
            "requested_by": "a@x", "mode": "renew",
            "plan": {"mode": "renew", "state_hash": "ef" * 32, "create": {"server": "EX1", "key_size": 2048, "lifetime_days": 1825},
                     "import_to": ["EX2"], "import_from": "EX1", "effective": "2027-01-05T00:00:00+00:00",
                     "current": {"thumbprint": "OLD1"}},
            "awaiting": {"group": "plan", "state_hash": "12" * 32, "deadline": "2026-12-05T00:00:00+00:00",
                         "steps": ["Create a new Auth certificate on EX1", "Stage it"]}}
    page = model.workflow_page(view, "rotation")
    assert page.waiting and page.state_hash == "ef" * 32
    (group,) = page.groups
    (change,) = group.changes
    assert change.summary == "Create a new Auth certificate on EX1; Stage it"
    assert [r.where for r in change.rows] == ["EX1", "EX2", "Exchange organisation (Get-AuthConfig)"]
    assert change.keys[0].target.startswith("Exchange Online service principal")
    html = pages.render("workflow.html", principal="b@x", page=page, token="t", error=None, decided=None, cannot_decide=None)
    assert "Rotation plan" in html and 'name="decision" value="approve"' in html


def test_in_azure_a_browser_nobody_signed_in_is_sent_to_sign_in_and_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.functions as func

    from functions.console import _principal

    monkeypatch.delenv("PUSHPROXY_ROLE_SOURCE", raising=False)
    monkeypatch.delenv("PUSHPROXY_ROLES_FILE", raising=False)
    req = func.HttpRequest("GET", "https://func.example/api/console/workflows/onboarding-x.example?decided=approve",
                           headers={}, body=b"")
    answer = _principal(req, "approver")
    assert isinstance(answer, func.HttpResponse) and answer.status_code == 302
    assert answer.headers["Location"] == "/.auth/login/aad?post_login_redirect_uri=/api/console/workflows/onboarding-x.example"


def test_an_unresolved_key_vault_reference_is_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.console import console_key
    from pushproxy.api.errors import ApiError

    monkeypatch.setenv("PUSHPROXY_CONSOLE_KEY", "@Microsoft.KeyVault(VaultName=kv;SecretName=console-key)")
    with pytest.raises(ApiError, match="Key Vault reference"):
        console_key()
    monkeypatch.setenv("PUSHPROXY_CONSOLE_KEY", "short")
    with pytest.raises(ApiError, match="at least 16"):
        console_key()



def test_a_reader_sees_the_plan_but_no_decision_form() -> None:
    view = {"id": "onboarding-x.example", "tenant": "x.example", "runtime_status": "Running", "phase": "awaiting_approval",
            "requested_by": "a@x", "plan": [{"kind": "enable_push_proxy", "group": "on_premises", "summary": "Enable",
                                             "details": {}}],
            "awaiting": {"group": "on_premises", "state_hash": "ab" * 32, "deadline": "2026-12-05T00:00:00+00:00"},
            "custom": {}}
    html = pages.render("workflow.html", principal="r@x", page=model.workflow_page(view, "onboarding"), token="",
                        error=None, decided=None, cannot_decide="r@x can read this page; deciding needs the approver role.")
    assert "Enable" in html and "deciding needs the approver role" in html
    assert "decision-form" not in html and "csrf_token" not in html
