"""The app loads as Azure loads it: staged as a deployment packages it (only what .funcignore lets through), with
only requirements.txt installed, indexed and loaded by the Functions worker's own code (azure-functions-runtime
from the package registry, in .venv-worker). And the local host refuses exactly what that code refuses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pathspec
import pytest

from tests.worker import worker_env
from tests.worker.expected import EXPECTED, shape

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def stage(destination: Path) -> list[str]:
    """Copy what a deployment would package: every file of the project that .funcignore does not exclude."""
    spec = pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())
    staged = []
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if not path.is_file() or spec.match_file(relative) or any(
            spec.match_file(parent.as_posix() + "/") for parent in Path(relative).parents if parent.as_posix() != "."
        ):
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        staged.append(relative)
    return staged


@pytest.fixture(scope="module")
def worker_python() -> Path:
    return worker_env.ensure()


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    app_dir = tmp_path_factory.mktemp("wwwroot")
    return app_dir, stage(app_dir)


def run_worker(python: Path, cwd: Path, *args: str) -> Any:
    done = subprocess.run([str(python), str(HERE / "drive_worker.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=240, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_package_holds_the_app_and_none_of_the_rest(staged: tuple[Path, list[str]]) -> None:
    _, files = staged
    assert {"function_app.py", "app_factory.py", "host.json", "requirements.txt"} <= set(files)
    assert not [f for f in files if f.split("/")[0] in ("tests", "emulators", "infra", "benchmarks", "docs")
                or f.startswith((".venv", ".import_linter_cache"))]


def test_the_worker_registers_every_function_with_the_bindings_we_expect(
    worker_python: Path, staged: tuple[Path, list[str]]
) -> None:
    app_dir, _ = staged
    answer = run_worker(worker_python, app_dir, "index")
    assert answer["init"] == {"status": "Success", "message": None}, answer["init"]["message"]
    assert answer["metadata"]["status"] == "Success"
    functions = {f["name"]: f for f in answer["functions"]}
    assert set(functions) == set(EXPECTED)
    for name, fn in functions.items():
        assert fn["load"]["status"] == "Success", (name, fn["load"])
        assert fn["registered"], name
        assert fn["script_file"] == "function_app.py"
        assert shape(fn["raw_bindings"]) == EXPECTED[name], name
        # The SDK annotates the client parameter `str`, so the worker hands it the binding's JSON text ("generic"),
        # which the SDK's middleware turns into a DurableOrchestrationClient.
        if "durableClient" in EXPECTED[name]["others"]:
            assert fn["input_types"]["client"] == "generic", name


def test_the_local_host_refuses_what_the_worker_refuses(worker_python: Path, tmp_path: Path) -> None:
    import importlib.util

    from azure.functions import FunctionRegister

    from pushproxy.local.worker_rules import WorkerRefusal, check_function

    worker = run_worker(worker_python, tmp_path, "check", str(HERE / "probe_app.py"))
    spec = importlib.util.spec_from_file_location("probe_app_local", HERE / "probe_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = next(v for v in vars(module).values() if isinstance(v, FunctionRegister))
    local: dict[str, str | None] = {}
    for fn in app.get_functions():
        try:
            check_function(fn.get_function_name(), fn.get_user_function(), list(fn.get_bindings()))
            local[fn.get_function_name()] = None
        except WorkerRefusal as exc:
            local[fn.get_function_name()] = str(exc)
    assert set(local) == set(worker)
    refused = {name for name, why in worker.items() if why}
    assert refused == {name for name, why in local.items() if why}
    # The probe app has both kinds, and the annotation the issue is about reads exactly as the worker says it.
    assert {"generic_alias", "extra_parameter", "misnamed_context", "http_generic_return"} <= refused
    assert {"plain_dict", "unannotated", "typing_generic", "with_client", "orchestrator", "http_ok"}.isdisjoint(refused)
    assert local["generic_alias"] == worker["generic_alias"] == (
        "cannot load the generic_alias function: binding payload has invalid non-type annotation "
        "dict[str, typing.Any]")
    assert local["http_generic_return"] == worker["http_generic_return"]
