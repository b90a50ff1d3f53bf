"""host.json, .funcignore, azure.yaml and local.settings.sample.json: what the Functions host and azd read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pathspec
import pytest
import yaml

from pushproxy.settings import DEFAULTS
from tests.infra.bicep_model import INFRA, REPO, parse

# Exchange's default remote-PowerShell budget per user (PowerShellMaxConcurrency in the default throttling policy).
EXCHANGE_POWERSHELL_CONCURRENCY = 18


def host_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    return data


def test_host_uses_the_v4_extension_bundle() -> None:
    bundle = host_json()["extensionBundle"]
    assert bundle == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    assert host_json()["version"] == "2.0"


def test_durable_hub_name_comes_from_an_app_setting() -> None:
    hub = host_json()["extensions"]["durableTask"]["hubName"]
    assert hub == "%PUSHPROXY_TASK_HUB%"
    assert "PUSHPROXY_TASK_HUB" in DEFAULTS


def test_activity_concurrency_fits_the_exchange_throttling_budget() -> None:
    # Each activity holds one PowerShell runspace pool (one session) to Exchange. Every instance the plan scales
    # out to runs this many at once, so instances x activities must stay under the service account's budget.
    per_instance = host_json()["extensions"]["durableTask"]["maxConcurrentActivityFunctions"]
    max_instances = parse(INFRA / "main.bicep")["parameters"]["maximumElasticWorkerCount"]["default"]
    assert 1 <= per_instance <= 4
    assert per_instance * max_instances < EXCHANGE_POWERSHELL_CONCURRENCY
    deploy = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "maxConcurrentActivityFunctions" in deploy and "PowerShellMaxConcurrency" in deploy, "the reason is written down"


@pytest.fixture(scope="module")
def funcignore() -> pathspec.GitIgnoreSpec:
    lines = (REPO / ".funcignore").read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


@pytest.mark.parametrize("path", [
    "emulators/exchange/__main__.py", "tests/infra/test_bicep_syntax.py", "infra/main.bicep",
    "benchmarks/bench_plan.py", "local.settings.json", ".venv/bin/python", ".azure/dev/.env",
    "pushproxy/__pycache__/cli.cpython-311.pyc", "registry.sqlite", "node_modules/azurite/package.json",
])
def test_funcignore_keeps_out(funcignore: pathspec.GitIgnoreSpec, path: str) -> None:
    assert funcignore.match_file(path), f"{path} would be deployed"


@pytest.mark.parametrize("path", [
    "function_app.py", "host.json", "requirements.txt", "functions/activities.py", "orchestrators/onboarding.py",
    "pushproxy/settings.py", "pushproxy/data/exchange-builds.json",
])
def test_funcignore_keeps_in(funcignore: pathspec.GitIgnoreSpec, path: str) -> None:
    assert not funcignore.match_file(path), f"{path} would be left out of the package"


def test_azure_yaml_defines_one_python_function_service() -> None:
    data = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    assert list(data["services"]) == ["api"], "the service name is the site's azd-service-name tag"
    service = data["services"]["api"]
    assert service["language"] == "python" and service["host"] == "function"
    assert service["project"] == "."


def test_local_settings_sample_names_only_known_settings() -> None:
    sample = json.loads((REPO / "local.settings.sample.json").read_text(encoding="utf-8"))
    assert sample["IsEncrypted"] is False
    values = sample["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    unknown = set(values) - set(DEFAULTS) - {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}
    assert unknown == set()
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", values["PUSHPROXY_TASK_HUB"]), "hub names: letters and digits"


def test_local_settings_is_ignored_by_git() -> None:
    assert "local.settings.json" in (REPO / ".gitignore").read_text(encoding="utf-8").split()


def deployed_files(spec: pathspec.GitIgnoreSpec) -> list[str]:
    """Files of the working tree the package would contain: everything .funcignore doesn't match."""
    keep: list[str] = []
    for directory, subdirs, files in os.walk(REPO):
        rel_dir = os.path.relpath(directory, REPO)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        subdirs[:] = [d for d in subdirs if not spec.match_file(rel_dir + d + "/")]
        keep.extend(rel_dir + f for f in files if not spec.match_file(rel_dir + f))
    return sorted(keep)


IMPORT_CHECK = """
import importlib.abc, sys
class NotDeployed(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in {"emulators", "tests", "benchmarks", "infra"}:
            raise ImportError(f"{name} is left out of the package by .funcignore")
        return None
sys.meta_path.insert(0, NotDeployed())
sys.path.insert(0, sys.argv[1])
import function_app, pushproxy
assert pushproxy.__file__.startswith(sys.argv[1]), pushproxy.__file__
print(len(function_app.app.get_functions()))
"""


def test_the_package_imports_without_what_funcignore_leaves_out(
    funcignore: pathspec.GitIgnoreSpec, tmp_path: Path
) -> None:
    files = deployed_files(funcignore)
    assert "function_app.py" in files and "host.json" in files and "requirements.txt" in files
    package = tmp_path / "package"
    for rel in files:
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, package / rel)
    result = subprocess.run([sys.executable, "-c", IMPORT_CHECK, str(package)], cwd=package,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip().splitlines()[-1]) > 0, "function_app registers no function"
