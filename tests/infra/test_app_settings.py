"""Every app setting the code reads is set on the Function App, found by scanning the code (not a fixed list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pushproxy.settings import DEFAULTS, LOCAL_ONLY
from tests.infra.bicep_model import INFRA, function_app_settings, parse
from tests.infra.code_settings import setting_reads

# Set by the Functions platform itself on every app; code may read them without infra setting them.
PLATFORM_SET = frozenset({
    "WEBSITE_HOSTNAME", "WEBSITE_SITE_NAME", "WEBSITE_INSTANCE_ID", "WEBSITE_RESOURCE_GROUP", "WEBSITE_OWNER_NAME",
    "WEBSITE_SKU", "AZURE_FUNCTIONS_ENVIRONMENT", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
    "MSI_SECRET", "REGION_NAME", "HOME",
})


def test_every_setting_the_code_reads_is_set_in_the_function_app() -> None:
    infra = function_app_settings()
    missing: dict[str, list[str]] = {}
    for read in setting_reads():
        if read.name in LOCAL_ONLY or read.name in PLATFORM_SET or read.name in infra:
            continue
        missing.setdefault(read.name, []).append(read.where())
    assert missing == {}, f"read by the code but not set in infra/app/api.bicep: {missing}"


def test_every_declared_setting_except_local_ones_is_set() -> None:
    missing = set(DEFAULTS) - LOCAL_ONLY - set(function_app_settings())
    assert missing == set(), f"pushproxy.settings.DEFAULTS names these, infra doesn't set them: {sorted(missing)}"


def test_settings_read_with_setting_are_declared() -> None:
    undeclared = {r.name: r.where() for r in setting_reads() if r.how == "setting()" and r.name not in DEFAULTS}
    assert undeclared == {}, "setting() raises KeyError for a name missing from pushproxy.settings.DEFAULTS"


def test_local_only_settings_are_never_set_in_azure() -> None:
    assert LOCAL_ONLY & set(function_app_settings()) == set()


def test_durable_hub_and_verification_schedule_are_set() -> None:
    infra = function_app_settings()
    assert "PUSHPROXY_TASK_HUB" in infra
    assert "PUSHPROXY_VERIFY_SCHEDULE" in infra


def test_host_storage_is_identity_based() -> None:
    infra = function_app_settings()
    assert infra["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__accountName" in infra and "AzureWebJobsStorage__clientId" in infra
    assert "AzureWebJobsStorage" not in infra, "no connection string for the host's storage"


def test_runtime_is_functions_v4_python() -> None:
    infra = function_app_settings()
    assert infra["FUNCTIONS_EXTENSION_VERSION"] == "~4"
    assert infra["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_the_secret_setting_is_a_key_vault_reference() -> None:
    infra = function_app_settings()
    assert str(infra["WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"]).startswith("@Microsoft.KeyVault(")
    assert infra["WEBSITE_SKIP_CONTENTSHARE_VALIDATION"] == "1"
    for name, value in infra.items():
        text = str(value)
        assert "AccountKey=" not in text and "listKeys" not in text, f"{name} holds a key"


def _main_default_behind(setting_value: Any) -> Any:
    """The main.bicep parameter default an api.bicep setting value comes from, when it is a straight chain."""
    api_params = parse(INFRA / "app" / "api.bicep")["parameters"]
    if not isinstance(setting_value, str) or setting_value not in api_params:
        return None
    module = parse(INFRA / "main.bicep")["modules"]["api"]["config"]
    passed = module.get("config", module).get("params", {}).get(setting_value)
    main_params = parse(INFRA / "main.bicep")["parameters"]
    if isinstance(passed, str) and passed in main_params:
        return main_params[passed].get("default")
    return None


def test_azure_defaults_match_the_code_defaults() -> None:
    mismatched = {}
    for name, value in function_app_settings().items():
        default = _main_default_behind(value)
        if name in DEFAULTS and DEFAULTS[name] is not None and default is not None and default != DEFAULTS[name]:
            mismatched[name] = (default, DEFAULTS[name])
    assert mismatched == {}, "infra default vs pushproxy.settings.DEFAULTS"


def test_scanner_finds_every_kind_of_read(tmp_path: Path) -> None:
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "timers.py").write_text(
        "import os\n"
        "from os import environ, getenv\n"
        "from pushproxy import settings\n"
        "from pushproxy.settings import setting\n"
        "@bp.timer_trigger(schedule='%E_FIVE%', arg_name='t')\n"
        "def run(t):\n"
        "    setting('A_ONE'); settings.setting('A_TWO')\n"
        "    os.environ['B_TWO']; os.environ.get('C_THREE'); os.getenv('D_FOUR'); environ.get('G_SEVEN')\n"
        "    getenv('H_EIGHT')\n"
        "    name = 'X'; os.environ.get(name); '%s%' % 1\n",
        encoding="utf-8",
    )
    (tmp_path / "host.json").write_text('{"extensions": {"durableTask": {"hubName": "%F_SIX%"}}}', encoding="utf-8")
    names = {r.name for r in setting_reads(tmp_path, ("functions",))}
    assert names == {"A_ONE", "A_TWO", "B_TWO", "C_THREE", "D_FOUR", "E_FIVE", "F_SIX", "G_SEVEN", "H_EIGHT"}


def test_scan_of_the_real_code_sees_the_hub_name() -> None:
    assert "PUSHPROXY_TASK_HUB" in {r.name for r in setting_reads()}
