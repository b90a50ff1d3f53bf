"""Exit codes: distinct for done, blocked, rejected or timed out, failed and bad input, and listed in --help."""

from __future__ import annotations

import json

import pytest

from pushproxy import __version__
from pushproxy.cli import main
from pushproxy.commands import exit_codes
from tests.e2e.conftest import World


def test_the_codes_are_distinct_and_documented(capsys: pytest.CaptureFixture[str]) -> None:
    codes = [exit_codes.DONE, exit_codes.FAILED, exit_codes.BAD_INPUT, exit_codes.BLOCKED, exit_codes.REJECTED,
             exit_codes.UNHEALTHY, exit_codes.STILL_RUNNING, exit_codes.INTERRUPTED]
    assert len(set(codes)) == len(codes)
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for code in codes:
        assert f"  {code} " in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"pushproxy {__version__}"


def _spec_file(world: World, **sections: object) -> str:
    path = world.tmp / "spec.json"
    path.write_text(json.dumps(world.spec_dict(**sections)), encoding="utf-8")
    return str(path)


def test_bad_input_is_2_and_changes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec_file(world, tenant_domain="fabrikam;com")
    assert main(["onboard", "--spec", spec, "--database", str(world.database)]) == exit_codes.BAD_INPUT
    assert "tenant_domain" in capsys.readouterr().err
    assert world.writes() == ([], [])


def test_blocked_is_3_for_a_dry_run_and_a_real_run_alike(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec_file(world, tenant_domain="unverified.example")
    assert main(["onboard", "--spec", spec, "--dry-run", "--database", str(world.database)]) == exit_codes.BLOCKED
    capsys.readouterr()
    assert main(["onboard", "--spec", spec, "--database", str(world.database)]) == exit_codes.BLOCKED
    out = capsys.readouterr().out
    assert out.count("Blocked") == 1, out  # the blocker is printed once
    assert world.writes() == ([], [])


def test_done_is_0_and_rejected_is_4(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec_file(world, approval={"policy": "required"})
    host = world.host()
    from pushproxy.onboarding import runner

    instance_id, _ = runner.start_or_resume(host, world.spec(approval={"policy": "required"}), requested_by="t")
    runner.drive(host, instance_id, until=runner.next_wait(), timeout=60)
    assert main(["approve", instance_id, "--reject", "--database", str(world.database)]) == exit_codes.REJECTED
    assert "rejected" in capsys.readouterr().out
    # A new onboarding after the rejected one, approved on the command line, is done.
    assert main(["onboard", "--spec", spec, "--auto-approve", "--database", str(world.database)]) == exit_codes.DONE


def test_tables_never_cut_an_identifier_at_80_columns() -> None:
    from rich.console import Console

    from pushproxy.onboarding import render

    thumbprint = "66046A354E60B78370A9D76A804F5CB69F9902C6"
    change = {"group": "tenant", "kind": "upload_tenant_key",
              "summary": f"Add the public key of Auth certificate {thumbprint} to Office 365 Exchange Online"}
    console = Console(width=80, record=True, color_system=None)
    console.print(render.plan_table([change]))
    text = console.export_text()
    assert "…" not in text
    joined = "".join(line.strip("│ ┃") for line in text.splitlines())
    assert thumbprint[:20] in joined.replace(" ", "").replace("│", "")
