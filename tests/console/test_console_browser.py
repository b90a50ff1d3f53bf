"""The approval console in a real browser (headless Chromium) against `pushproxy serve` and both stand-ins: find
the waiting onboarding, read its plan, approve with a comment, see the outcome; approve a rotation's plan and see
its staged wait with the next date; self-approval refused on the page;
a stale plan refused with a reload link; a `<script>` from Graph and from a comment shown as text; a rejected
offboarding changes nothing; a form posted from another origin is refused. Screenshots at desktop and phone width
go to screenshots/ (README)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pushproxy.secrets import tenant_env_name
from tests.api.served import OPERATOR, Served
from tests.api.test_approval_flow import PASSWORD_ENV, spec
from tests.console import browser

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=browser.missing() or "")

ID = "onboarding-fabrikam.com"
OFF = "offboarding-fabrikam.com"
ALICE, BOB, CAROL = "alice@provider.example", "bob@provider.example", "carol@provider.example"
EVIL_SP = "<script>document.title='owned'</script>Office 365 Exchange Online"
EVIL_COMMENT = "<script>alert('comment')</script> checked with the change board"


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[Any, Any]]:
    from tests.support.exchange_standin import start_exchange_standin
    from tests.support.graph_standin import start_graph_standin

    with start_graph_standin() as graph:
        state = graph.state()
        for tenant in state["tenants"].values():
            for sp in tenant["servicePrincipals"]:
                sp["displayName"] = EVIL_SP  # what Graph says is shown, never run
        graph.put_state(state)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SSL_CERT_FILE", str(graph.cert_path))
            exchange = start_exchange_standin("--tenant-state", f"{graph.url}/_emulator/state")
        with exchange:
            yield exchange, graph


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, standins: tuple[Any, Any]) -> Iterator[Served]:
    exchange, graph = standins
    server = Served(tmp_path_factory.mktemp("console"),
                    {tenant_env_name("fabrikam.com", PASSWORD_ENV): exchange.password, **graph.env(domains=("fabrikam.com",))},
                    roles={OPERATOR: ["operator", "requester"], ALICE: ["requester", "approver"],
                           BOB: ["approver"], CAROL: ["approver"]})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    chrome = browser.start()
    try:
        yield chrome
    finally:
        chrome.quit()


def api(served: Served, method: str, path: str, body: Any = None, who: str = ALICE) -> Any:
    return served.request(method, path, who=who, data=None if body is None else json.dumps(body),
                          headers={"Content-Type": "application/json"})


def wait_for(served: Served, path: str, predicate: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api(served, "GET", path)
        if response.status_code == 200:
            last = response.json()
            if predicate(last):
                return last
        time.sleep(0.2)
    raise AssertionError(f"not reached; last: {json.dumps(last)[:2000]}\n{served.log_path.read_text()[-3000:]}")


def awaiting(group: str) -> Any:
    return lambda v: v["phase"] == "awaiting_approval" and (v["awaiting"] or {}).get("group") == group


def text(driver: Any) -> str:
    return str(driver.find_element("tag name", "body").text)


def open_page(driver: Any, served: Served, path: str) -> None:
    driver.get(served.url(path))


def test_approve_an_onboarding_from_the_console(served: Served, standins: tuple[Any, Any], driver: Any) -> None:
    exchange, graph = standins
    assert served.register("fabrikam.com", spec(exchange, graph)).status_code == 201
    assert api(served, "POST", "/api/tenants/fabrikam.com/onboarding", {"comment": "ticket 42"}).status_code == 202
    wait_for(served, f"/api/onboardings/{ID}", awaiting("on_premises"))

    # The requester opens the console: the onboarding waits, she can read it, but not approve her own request.
    browser.sign_in(driver, ALICE)
    open_page(driver, served, "/api/console")
    waiting = driver.find_element("css selector", "#waiting-h + .cards")
    assert "fabrikam.com" in waiting.text and "Waiting for approval" in waiting.text
    browser.screenshot(driver, "console-desktop", browser.DESKTOP)
    browser.screenshot(driver, "console-phone", browser.PHONE)
    browser.click_and_load(driver, ("link text", "Onboarding of fabrikam.com"))
    body = text(driver)
    assert "AuthMetadataUrl" in body and "Push-notification proxy" in body  # the diff: where, setting, from → to
    assert "Requested by" in body and ALICE in body and "State read at" in body and "Decide by" in body
    driver.find_element("id", "comment").send_keys("my own")
    browser.click_and_load(driver, ("id", "approve"))
    assert "requested this onboarding and cannot approve it" in driver.find_element("id", "decision-error").text

    # Bob opens the page; meanwhile Carol approves the on-premises group through the API: Bob's page is stale.
    browser.sign_in(driver, BOB)
    open_page(driver, served, f"/api/console/workflows/{ID}")
    shown = wait_for(served, f"/api/onboardings/{ID}", awaiting("on_premises"))
    browser.screenshot(driver, "workflow-desktop", browser.DESKTOP)
    browser.screenshot(driver, "workflow-phone", browser.PHONE)
    assert api(served, "POST", f"/api/onboardings/{ID}/approval",
               {"decision": "approve", "state_hash": shown["awaiting"]["state_hash"]}, who=CAROL).status_code == 202
    wait_for(served, f"/api/onboardings/{ID}", awaiting("tenant"))
    browser.click_and_load(driver, ("id", "approve"))
    error = driver.find_element("id", "decision-error")
    assert "not the one you saw" in error.text
    browser.click_and_load(driver, ("id", "reload"))

    # The tenant group now: its key row, and Graph's display name as text (the script never ran).
    body = text(driver)
    assert "waiting for your decision" in body and "Keys" in body and "keyCredentials" in body
    assert EVIL_SP in body and driver.title != "owned"
    driver.find_element("id", "comment").send_keys(EVIL_COMMENT)
    browser.click_and_load(driver, ("id", "approve"))
    assert "Your decision (approve) was recorded" in driver.find_element("id", "decided").text

    done = wait_for(served, f"/api/onboardings/{ID}", lambda v: v["runtime_status"] == "Completed")
    assert done["output"]["outcome"] == "done", done
    open_page(driver, served, f"/api/console/workflows/{ID}")
    assert "Done" in driver.find_element("id", "outcome").text
    assert EVIL_COMMENT in text(driver)  # the comment, as text
    assert not [s for s in driver.find_elements("tag name", "script") if "alert" in (s.get_attribute("innerHTML") or "")]
    approvals = [a for a in done["approvals"]]
    assert [(a["group"], a["approver"]) for a in approvals] == [("on_premises", CAROL), ("tenant", BOB)]
    assert approvals[1]["comment"] == EVIL_COMMENT
    open_page(driver, served, "/api/console")
    assert "fabrikam.com" in driver.find_element("css selector", "#recent-h + .cards").text


class _Attacker(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        page = (f'<!doctype html><form method="post" action="{self.target}">'
                '<input type="hidden" name="decision" value="approve"><input type="hidden" name="state_hash" value="00">'
                '<input type="hidden" name="csrf_token" value="guess"><button id="go">Win a prize</button></form>')
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_a_rejected_offboarding_changes_nothing_and_another_origin_cannot_decide(
        served: Served, standins: tuple[Any, Any], driver: Any) -> None:
    exchange, _ = standins
    before = exchange.org_state()
    assert api(served, "POST", "/api/tenants/fabrikam.com/offboarding", {"comment": "leaving"}).status_code == 202
    wait_for(served, f"/api/offboardings/{OFF}", awaiting("on_premises"))

    # Another origin's page, opened by a signed-in approver, posts a decision: refused, and the workflow still waits.
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), type("A", (_Attacker,), {"target": served.url(f"/api/console/workflows/{OFF}/decision")}))
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        browser.sign_in(driver, BOB)
        driver.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        browser.click_and_load(driver, ("id", "go"))
        assert "Refused: not from the console" in text(driver)
    finally:
        attacker.shutdown()
    assert wait_for(served, f"/api/offboardings/{OFF}", awaiting("on_premises"))["approvals"] == []

    open_page(driver, served, f"/api/console/workflows/{OFF}")
    assert "Disable" in text(driver)
    driver.find_element("id", "comment").send_keys("not this quarter")
    browser.click_and_load(driver, ("id", "reject"))
    assert "Your decision (reject) was recorded" in driver.find_element("id", "decided").text
    ended = wait_for(served, f"/api/offboardings/{OFF}", lambda v: v["runtime_status"] == "Completed")
    assert ended["output"]["outcome"] == "rejected"
    assert exchange.org_state() == before  # nothing changed on Exchange
    open_page(driver, served, f"/api/console/workflows/{OFF}")
    assert "Rejected" in driver.find_element("id", "outcome").text


ROT = "rotation-fabrikam.com"
AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"


def test_a_rotation_plan_is_approved_on_its_page_and_the_page_shows_the_staged_wait(
        served: Served, standins: tuple[Any, Any], driver: Any) -> None:
    from datetime import datetime, timedelta

    exchange, _ = standins
    # The current Auth certificate now expires in 29 days: the rotation is due (rotation.renew_before_days 60).
    state = exchange.state()
    org = state["organizations"]["fabrikam.com"]
    now = datetime.fromisoformat(exchange.request("GET", "/_emulator/clock")["now"])
    org["certificates"].append({
        "thumbprint": "CURRENT-PLACEHOLDER", "subject": AUTH_SUBJECT, "key_size": 2048,
        "not_before": (now - timedelta(days=365)).isoformat(), "not_after": (now + timedelta(days=29)).isoformat(),
        "servers": [s["name"] for s in org["servers"]]})
    org["auth_config"] = {**org["auth_config"], "current": "CURRENT-PLACEHOLDER", "previous": "", "next": ""}
    exchange.put_state(state)

    assert api(served, "POST", "/api/tenants/fabrikam.com/rotation", {"comment": "before it expires"}).status_code == 202
    wait_for(served, f"/api/rotations/{ROT}", awaiting("plan"))
    browser.sign_in(driver, BOB)
    open_page(driver, served, "/api/console")
    assert "Rotation of fabrikam.com" in driver.find_element("css selector", "#waiting-h + .cards").text
    browser.click_and_load(driver, ("link text", "Rotation of fabrikam.com"))
    body = text(driver)
    # The plan as rows: the certificate made, the staging with its effective date, the key's target collection.
    assert "new Auth certificate" in body and "NextCertificateThumbprint" in body and "keyCredentials" in body
    assert "expires on" in body  # why: the current certificate's expiry
    # When the state behind the plan (its hash) was read.
    assert driver.find_element("xpath", "//dt[text()='State read at']/following-sibling::dd/time").get_attribute("datetime")
    driver.find_element("id", "comment").send_keys("renewal window agreed")
    browser.click_and_load(driver, ("id", "approve"))
    assert "Your decision (approve) was recorded" in driver.find_element("id", "decided").text

    staged = wait_for(served, f"/api/rotations/{ROT}", lambda v: v["phase"] == "staged" and v["next_date"])
    open_page(driver, served, f"/api/console/workflows/{ROT}")
    assert "Staged: waiting for the effective date" in driver.find_element("id", "phase").text
    shown = driver.find_element("id", "next-date")
    assert staged["next_date"][:10] in (shown.find_element("tag name", "time").get_attribute("datetime") or "")
    assert "publish" in shown.text
    assert [(a["group"], a["approver"]) for a in staged["approvals"]] == [("plan", BOB)]
    browser.screenshot(driver, "rotation-staged-phone", browser.PHONE)
