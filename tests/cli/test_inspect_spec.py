"""`pushproxy exchange inspect --spec FILE`: the pre-flight check with nothing typed twice, in its own words."""

from __future__ import annotations

import json

import pytest

from pushproxy.cli import main
from tests.e2e.conftest import World


def test_inspect_takes_everything_from_the_spec(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec = world.tmp / "spec.json"
    spec.write_text(json.dumps(world.spec_dict()), encoding="utf-8")
    assert main(["exchange", "inspect", "--spec", str(spec), "--json"]) == 0
    out = capsys.readouterr()
    found = json.loads(out.out)
    assert found["realm"] == "fabrikam.com" and found["tenant_id"] == "11111111-2222-3333-4444-555555555555"
    assert found["servers"] and world.exchange.password not in out.out + out.err
    assert world.writes() == ([], [])


def test_inspect_refuses_a_spec_and_the_options_it_replaces(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec = world.tmp / "spec.json"
    spec.write_text(json.dumps(world.spec_dict()), encoding="utf-8")
    assert main(["exchange", "inspect", "--spec", str(spec), "--endpoint", world.exchange.url]) == 2
    assert "--spec:" in capsys.readouterr().err


def test_a_domain_user_without_a_realm_is_told_about_realm(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSHPROXY_EXCHANGE_PASSWORD", world.exchange.password)
    code = main(["exchange", "inspect", "--endpoint", world.exchange.url, "--auth", "ntlm", "--user", "FABRIKAM\\svc",
                 "--ca-bundle", str(world.exchange.cert_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--realm" in err and err.count("\n") == 1, err
