"""checkov over infra/ (bicep framework, offline): zero parsing errors, and every failing check is in the
baseline with a reason. checkov lives in its own venv (make checkov) because it pins an old pycep-parser."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_model import INFRA, REPO

BASELINE = INFRA / "checkov-baseline.json"


def checkov_binary() -> str | None:
    for candidate in (os.environ.get("CHECKOV"), str(REPO / ".venv-checkov" / "bin" / "checkov")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov not installed: run `make checkov` (or set CHECKOV to its path)")
    # --skip-download: no network; parse failures still exit 0, so the summary is what's asserted.
    result = subprocess.run(
        [binary, "-d", str(INFRA), "--framework", "bicep", "--skip-download", "-o", "json", "--compact"],
        capture_output=True, text=True, timeout=240, cwd=REPO,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},  # no guidelines download either
    )
    assert result.returncode in (0, 1), f"checkov failed to run (rc {result.returncode}): {result.stderr[-2000:]}"
    data = json.loads(result.stdout)
    reports = data if isinstance(data, list) else [data]
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    assert len(bicep) == 1, f"no bicep report in checkov's output: {[r.get('check_type') for r in reports]}"
    return bicep[0]


def baseline_entries() -> dict[tuple[str, str, str], str]:
    """(file, resource, check id) -> reason, from the baseline (checkov's own --baseline format, plus reasons)."""
    entries = {}
    for failed in json.loads(BASELINE.read_text(encoding="utf-8"))["failed_checks"]:
        for finding in failed["findings"]:
            reasons = finding.get("reasons", {})
            for check_id in finding["check_ids"]:
                entries[(failed["file"], finding["resource"], check_id)] = reasons.get(check_id, "")
    return entries


def failing(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["file_path"], c["resource"], c["check_id"]) for c in report["results"]["failed_checks"]}


def test_checkov_parses_every_file(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
    assert report["summary"]["resource_count"] > 0


def test_every_failing_check_is_baselined_with_a_reason(report: dict[str, Any]) -> None:
    entries = baseline_entries()
    unexplained = sorted(failing(report) - set(entries))
    assert unexplained == [], f"new checkov failures: fix them or add them to {BASELINE.name} with a reason"
    assert [key for key, reason in entries.items() if len(reason.strip()) < 20] == [], "every entry needs a reason"


def test_baseline_has_no_stale_entries(report: dict[str, Any]) -> None:
    stale = sorted(set(baseline_entries()) - failing(report))
    assert stale == [], "these checks pass now: remove them from the baseline"


def test_security_checks_that_must_pass_do(report: dict[str, Any]) -> None:
    passed = {c["check_id"] for c in report["results"]["passed_checks"]}
    # HTTPS only, function app TLS, FTP off, managed identity; storage TLS 1.2; Key Vault purge protection, soft delete.
    for check_id in ("CKV_AZURE_70", "CKV_AZURE_145", "CKV_AZURE_78", "CKV_AZURE_71",
                     "CKV_AZURE_44", "CKV_AZURE_110", "CKV_AZURE_42"):
        assert check_id in passed, f"{check_id} no longer passes"

