"""One composition root: function_app exposes exactly one FunctionRegister (the worker refuses more), built by
app_factory.build_app, with every function tests/worker/expected.py lists, each passing the worker's load rules
as the local host checks them. tests/worker runs the worker's own code on the staged package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import json, azure.functions as func, function_app
from pushproxy.local.worker_rules import check_function
registers = [n for n in dir(function_app) if isinstance(getattr(function_app, n), func.FunctionRegister)]
functions = function_app.app.get_functions()
for fn in functions:
    check_function(fn.get_function_name(), fn.get_user_function(), list(fn.get_bindings()))
print(json.dumps({"registers": registers, "names": sorted(f.get_function_name() for f in functions)}))
"""


def test_function_app_is_the_composition_roots_one_app() -> None:
    from tests.worker.expected import EXPECTED

    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["registers"] == ["app"]
    assert answer["names"] == sorted(EXPECTED)
    assert "Auth level is not applied" not in done.stderr


def test_no_second_dfapp_is_built_in_the_product() -> None:
    sources = [p for d in ("pushproxy", "functions", "orchestrators") for p in (REPO / d).rglob("*.py")]
    sources += [REPO / "function_app.py"]
    builders = [str(p.relative_to(REPO)) for p in sources if "DFApp(" in p.read_text(encoding="utf-8")]
    assert builders == [], builders  # only app_factory.build_app builds one
