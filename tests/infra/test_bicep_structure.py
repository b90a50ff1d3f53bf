"""Structural assertions on the parsed Bicep: what issue 8 says must be true of the deployed resources."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.bicep_model import INFRA, Resource, bicep_paths, body, deployed, parse, resources, walk

MAIN = INFRA / "main.bicep"

# type -> API version: what INFRA_NOTES settled on (as used by the official samples and AVM).
EXPECTED_TYPES = {
    "Microsoft.Resources/resourceGroups": "2024-03-01",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.Storage/storageAccounts/tableServices/tables": "2023-05-01",
    "Microsoft.Storage/storageAccounts/fileServices/shares": "2023-05-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.KeyVault/vaults": "2023-07-01",
    "Microsoft.KeyVault/vaults/secrets": "2023-07-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.Web/serverfarms": "2024-04-01",
    "Microsoft.Web/sites": "2024-04-01",
    "Microsoft.Relay/namespaces": "2021-11-01",
    "Microsoft.Relay/namespaces/hybridConnections": "2021-11-01",
    "Microsoft.Relay/namespaces/hybridConnections/authorizationRules": "2021-11-01",
    "Microsoft.Web/sites/hybridConnectionNamespaces/relays": "2024-04-01",
    "Microsoft.Network/virtualNetworks": "2024-05-01",
}

# Built-in role definition ids used anywhere in infra/, and the role each one is.
ROLE_NAMES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

NOT_FUNCTION_PLANS = {"Y1", "FC1", "Dynamic", "FlexConsumption"}


def one(resource_type: str) -> Resource:
    found = deployed(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {[r.symbol for r in found]}"
    return found[0]


def main_params() -> dict[str, Any]:
    params: dict[str, Any] = parse(MAIN)["parameters"]
    return params


def decorator(param: dict[str, Any], kind: str) -> Any:
    for deco in param.get("decorators", []):
        if deco.get("type") == kind:
            return deco.get("argument")
    return None


def comment_above(path_text: str, declaration: str) -> str:
    """The `//` comment block right above the line that starts with `declaration`."""
    lines = path_text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(declaration))
    block = []
    for line in reversed(lines[:index]):
        if not line.strip().startswith("//"):
            break
        block.append(line.strip().lstrip("/").strip())
    return " ".join(reversed(block))


# --- azd wiring ------------------------------------------------------------------------------------------------


def test_main_is_at_subscription_scope_and_creates_the_resource_group() -> None:
    assert parse(MAIN)["globals"]["scope"]["value"] == "subscription"
    groups = [r for r in deployed("Microsoft.Resources/resourceGroups") if r.path == MAIN]
    assert len(groups) == 1
    for module in parse(MAIN)["modules"].values():
        assert body(module["config"]).get("scope") == groups[0].symbol


def test_parameters_file_feeds_azd_values_into_declared_parameters() -> None:
    values = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert values["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert values["location"]["value"] == "${AZURE_LOCATION}"
    assert values["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    declared = main_params()
    assert set(values) <= set(declared), f"undeclared: {set(values) - set(declared)}"
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set(values), f"required parameters without a value: {required - set(values)}"
    assert decorator(declared["location"], "metadata") == {"azd": {"type": "location"}}


def test_resource_types_and_api_versions_are_present() -> None:
    present = {(r.type, r.api_version) for r in resources() if not r.existing}
    missing = {(t, v) for t, v in EXPECTED_TYPES.items() if (t, v) not in present}
    assert not missing, f"missing resource type@version: {sorted(missing)}"
    # One API version per type across files, so `existing` references read what the deployment wrote.
    versions: dict[str, set[str]] = {}
    for r in resources():
        versions.setdefault(r.type, set()).add(r.api_version)
    assert {t: v for t, v in versions.items() if len(v) > 1} == {}


# --- identity, storage, monitoring, Key Vault ----------------------------------------------------------------


def test_the_app_runs_as_a_user_assigned_identity() -> None:
    one("Microsoft.ManagedIdentity/userAssignedIdentities")
    site = one("Microsoft.Web/sites")
    assert site.body["identity"]["type"] == "UserAssigned"
    assert site.properties["keyVaultReferenceIdentity"], "Key Vault references must use the user-assigned identity"


def test_storage_is_locked_to_tls12_without_public_blobs() -> None:
    props = one("Microsoft.Storage/storageAccounts").properties
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["supportsHttpsTrafficOnly"] is True


def test_registry_table_and_content_share_exist() -> None:
    one("Microsoft.Storage/storageAccounts/tableServices/tables")
    share = one("Microsoft.Storage/storageAccounts/fileServices/shares")
    reason = comment_above(share.path.read_text(encoding="utf-8"), f"resource {share.symbol} ")
    assert "Elastic Premium" in reason, "the content share carries a comment saying why it exists"


def test_durable_storage_roles_are_granted_to_the_identity() -> None:
    rbac_text = (INFRA / "app" / "rbac.bicep").read_text(encoding="utf-8")
    for role in ("Storage Blob Data", "Storage Queue Data Contributor", "Storage Table Data Contributor"):
        assert role in rbac_text
    scopes = {r.body.get("scope") for r in deployed("Microsoft.Authorization/roleAssignments")}
    storage_symbols = {r.symbol for r in resources() if r.type == "Microsoft.Storage/storageAccounts"}
    assert scopes & storage_symbols, "storage roles are scoped to the storage account"


def test_monitoring_is_workspace_based_with_local_auth_off() -> None:
    one("Microsoft.OperationalInsights/workspaces")
    props = one("Microsoft.Insights/components").properties
    assert props["DisableLocalAuth"] is True
    assert props["WorkspaceResourceId"]


def test_key_vault_uses_rbac_with_soft_delete_and_purge_protection() -> None:
    props = one("Microsoft.KeyVault/vaults").properties
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert "accessPolicies" not in props
    role_ids = [node for r in deployed("Microsoft.Authorization/roleAssignments") for node in walk(r.body)]
    rbac_variables = parse(INFRA / "app" / "rbac.bicep").get("variables", {})
    known = {k: v.get("value") for k, v in rbac_variables.items()}
    resolved = {known.get(x, x) for x in role_ids if isinstance(x, str)}
    assert "4633458b-17de-408a-b874-0445c86b69e6" in resolved, "the identity gets Key Vault Secrets User"


def test_no_exchange_or_graph_secret_passes_through_the_deployment() -> None:
    # Specs name Key Vault secrets; their values are stored with `az keyvault secret set`, never as parameters.
    for path in bicep_paths():
        for name, param in parse(path).get("parameters", {}).items():
            assert decorator(param, "secure") is None, f"{path.name}: secure parameter {name}"
            assert not re.search(r"(?i)password|secret(?!name)", name), f"{path.name}: parameter {name}"


# --- plan and function app -----------------------------------------------------------------------------------


def test_plan_is_linux_elastic_premium_switchable_to_dedicated_never_consumption_or_flex() -> None:
    plan = one("Microsoft.Web/serverfarms")
    assert plan.properties["reserved"] is True
    sku_param = parse(plan.path)["parameters"]["sku"]
    allowed = set(decorator(sku_param, "allowed"))
    assert not allowed & NOT_FUNCTION_PLANS
    assert {"EP1", "EP2", "EP3"} <= allowed
    assert any(s.startswith("P") and s.endswith("v3") for s in allowed), "a Dedicated SKU is allowed"
    main_sku = main_params()["planSku"]
    assert main_sku["default"] == "EP1"
    assert set(decorator(main_sku, "allowed")) == allowed
    kinds = {node for node in walk(plan.body.get("kind")) if isinstance(node, str)}
    assert "elastic" in kinds
    assert not {node for node in walk(plan.body) if isinstance(node, str)} & NOT_FUNCTION_PLANS


def test_function_app_is_python_311_https_only_tls12_no_ftp() -> None:
    site = one("Microsoft.Web/sites")
    assert site.body["kind"] == "functionapp,linux"
    assert site.properties["httpsOnly"] is True
    config = site.properties["siteConfig"]
    assert config["linuxFxVersion"] == "Python|3.11"
    assert config["ftpsState"] == "Disabled"
    assert config["minTlsVersion"] == "1.2"


def test_function_app_carries_the_azd_service_tag() -> None:
    tags = one("Microsoft.Web/sites").body["tags"]
    pairs = {
        (str(k).strip("'"), v)
        for node in walk(tags)
        if isinstance(node, dict)
        for k, v in node.items()
        if isinstance(v, str)
    }
    assert ("azd-service-name", "api") in pairs


# --- connectivity --------------------------------------------------------------------------------------------


def test_connectivity_parameter_defaults_to_hybrid_connection() -> None:
    param = main_params()["connectivity"]
    assert param["default"] == "hybridConnection"
    assert set(decorator(param, "allowed")) == {"hybridConnection", "vnet"}
    conditions = {
        name: json.dumps(module["config"].get("condition"))
        for name, module in parse(MAIN)["modules"].items()
    }
    assert "hybridConnection" in conditions["hybridConnections"]
    assert "vnet" in conditions["network"]


def test_one_hybrid_connection_per_endpoint_with_the_endpoint_in_user_metadata() -> None:
    connections = one("Microsoft.Relay/namespaces/hybridConnections")
    decl = parse(connections.path)["resources"][connections.symbol]["config"]
    assert decl["loop_type"]["detail"]["array_name"] == "endpoints"
    metadata = connections.properties["userMetadata"]
    assert '"key":"endpoint"' in metadata and "${endpoint.host}:${endpoint.port}" in metadata
    assert connections.properties["requiresClientAuthorization"] is True
    rights = {right for r in deployed("Microsoft.Relay/namespaces/hybridConnections/authorizationRules")
              for right in r.properties["rights"]}
    assert rights == {"Send", "Listen"}


@pytest.mark.parametrize(
    "field",
    ["serviceBusNamespace", "serviceBusSuffix", "relayName", "relayArmUri", "hostname", "port", "sendKeyName", "sendKeyValue"],
)
def test_site_link_field_is_set(field: str) -> None:
    link = one("Microsoft.Web/sites/hybridConnectionNamespaces/relays")
    assert link.properties.get(field) not in (None, "", [], {}), f"site link lacks {field}"


def test_site_link_name_is_site_namespace_relay() -> None:
    link = one("Microsoft.Web/sites/hybridConnectionNamespaces/relays")
    assert link.body["name"].count("/") == 2


def test_vnet_mode_integrates_through_a_delegated_subnet() -> None:
    vnet = one("Microsoft.Network/virtualNetworks")
    delegations = [node for node in walk(vnet.properties) if isinstance(node, dict) and "serviceName" in node]
    assert {"serviceName": "Microsoft.Web/serverFarms"} in delegations
    assert "virtualNetworkSubnetId" in one("Microsoft.Web/sites").properties


# --- role comments and outputs -------------------------------------------------------------------------------

GUID = re.compile(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'")


def test_every_role_guid_carries_a_comment_naming_the_role() -> None:
    seen = set()
    for path in bicep_paths():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for guid in GUID.findall(line):
                seen.add(guid)
                assert guid in ROLE_NAMES, f"{path.name}:{number}: unknown role id {guid}"
                comment = line.split("//", 1)[1] if "//" in line else ""
                assert ROLE_NAMES[guid] in comment, f"{path.name}:{number}: {guid} needs '// {ROLE_NAMES[guid]}'"
    assert seen == set(ROLE_NAMES)


SECRET_ACCESSORS = {
    "primaryKey", "secondaryKey", "primaryConnectionString", "secondaryConnectionString",
    "ConnectionString", "connectionString", "keys", "secretUriWithVersion",
}
SECRET_OUTPUT_NAME = re.compile(r"(?i)password|connection_?string|secret(?!_?name)|(?<!_)key(?!_?vault)|sas|token")


def output_problems(name: str, value: Any) -> list[str]:
    problems = []
    if SECRET_OUTPUT_NAME.search(name):
        problems.append("its name suggests a secret")
    for node in walk(value):
        if isinstance(node, dict) and isinstance(node.get("function"), dict):
            function = node["function"]
            called = function.get("parameters", {}).get("func_name") or function.get("type", "")
            if str(called).lower().startswith("list"):
                problems.append(f"calls {called}()")
        if isinstance(node, str):
            if node in SECRET_ACCESSORS:
                problems.append(f"reads .{node}")
            if re.search(r"list\w*\(|AccountKey=|SharedAccessKey", node):
                problems.append(f"interpolates {node!r}")
    return problems


def test_no_output_carries_a_secret() -> None:
    found = {}
    for path in bicep_paths():
        for name, output in parse(path).get("outputs", {}).items():
            assert decorator(output, "secure") is None
            problems = output_problems(name, output.get("value"))
            if problems:
                found[f"{path.name}:{name}"] = problems
    assert found == {}


def test_output_check_catches_a_listener_key() -> None:
    value = {"operator": {"type": "property_accessor", "operands": {
        "operand_1": {"function": {"type": "list_func", "parameters": {"func_name": "listKeys"}}},
        "operand_2": "primaryKey"}}}
    assert output_problems("listenerKey", value)
    assert output_problems("RELAY", "Endpoint=sb://x/;SharedAccessKeyName=listen;SharedAccessKey=${k}")
    assert output_problems("AZURE_KEY_VAULT_NAME", "vault") == []


AZD_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}")


def test_parameter_file_defaults_satisfy_the_allowed_values() -> None:
    # azd substitutes ${VAR=default} from the environment; with nothing set, the defaults must be valid.
    values = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = main_params()
    for name, entry in values.items():
        value = entry["value"]
        if not isinstance(value, str):
            assert declared[name]["type"] == "array" and isinstance(value, list), name
            continue
        match = AZD_REFERENCE.fullmatch(value)
        assert match, f"{name}: {value!r} is not an azd ${{VAR}} reference"
        default = match.group(2)
        allowed = decorator(declared[name], "allowed")
        if default is not None and allowed:
            assert default in allowed, f"{name}: default {default!r} not in {allowed}"
        if allowed:
            assert default is not None, f"{name}: an unset {match.group(1)} would give '' (not allowed)"
