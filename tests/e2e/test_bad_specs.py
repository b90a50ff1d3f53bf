"""Bad specs: `pushproxy onboard` stops with SpecError naming the field, and nothing reaches the stand-ins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pushproxy.cli import main
from tests.e2e.conftest import World

BAD: list[tuple[str, Any, str]] = [
    ("tenant_domain", "fabrikam.com; Remove-AuthServer", "tenant_domain"),
    ("tenant_domain", "fab rikam.com", "tenant_domain"),
    ("tenant_domain", "$(whoami).com", "tenant_domain"),
    ("tenant_id", "fabrikam", "tenant_id"),
    ("exchange.url", "not a url", "exchange.url"),
    ("exchange.password_ref", "P@ssw0rd!", "exchange.password_ref"),
    ("graph.secret_ref", "the-secret-itself", "graph.secret_ref"),
    ("graph.mode", "password", "graph.mode"),
    ("approval.policy", "whenever", "approval.policy"),
    ("verification.wait_s", -1, "verification.wait_s"),
]


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        spec = spec[p]
    spec[last] = value


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[p for p, _, _ in BAD])
def test_bad_spec_is_refused_before_anything_is_called(
    world: World, capsys: pytest.CaptureFixture[str], path: str, value: Any, field: str
) -> None:
    spec = world.spec_dict()
    _set(spec, path, value)
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")

    code = main(["onboard", "--spec", str(spec_file), "--auto-approve", "--database", str(world.database)])

    err = capsys.readouterr().err
    assert code == 2  # bad input
    assert f"pushproxy onboard: {field}:" in err
    if "ref" in path:
        assert str(value) not in err  # a pasted secret is never echoed
    assert world.exchange.journal() == []
    assert world.graph.journal() == []
    assert not world.database.exists()  # not even an orchestration was started


def test_spec_that_is_not_json(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = world.tmp / "spec.json"
    spec_file.write_text("{tenant_domain: fabrikam.com", encoding="utf-8")
    assert main(["onboard", "--spec", str(spec_file), "--database", str(world.database)]) == 2  # bad input
    assert "pushproxy onboard: spec:" in capsys.readouterr().err
    assert world.exchange.journal() == [] and world.graph.journal() == []
