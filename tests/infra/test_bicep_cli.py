"""`bicep build` and `bicep lint` when a Bicep CLI is on PATH (it isn't here: only NuGet ships it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.bicep_model import INFRA, bicep_paths

BICEP = shutil.which("bicep")
needs_bicep = pytest.mark.skipif(BICEP is None, reason="no `bicep` binary on PATH (install the Bicep CLI to run these)")


@needs_bicep
def test_bicep_build_compiles_main(tmp_path: Path) -> None:
    assert BICEP is not None
    out = tmp_path / "main.json"
    result = subprocess.run([BICEP, "build", str(INFRA / "main.bicep"), "--outfile", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


@needs_bicep
@pytest.mark.parametrize("path", bicep_paths(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_lint_reports_no_error(path: Path) -> None:
    assert BICEP is not None
    result = subprocess.run([BICEP, "lint", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
