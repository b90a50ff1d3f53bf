"""The TenantSpec's JSON Schema names exactly the fields the code accepts, with its defaults, and the README's
field table is the one generated from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pushproxy.cli import main
from pushproxy.exchange.endpoint import ExchangeEndpoint, TlsSettings
from pushproxy.spec import (
    ApprovalSpec,
    CertificateSpec,
    RemediationSpec,
    RetrySpec,
    RotationSpec,
    TenantKeysSpec,
    TenantSpec,
    VerificationSpec,
)
from pushproxy.spec_schema import SCHEMA, fields, markdown_table
from pushproxy.tenant.models import GraphCredentialSpec

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS: dict[str, Any] = {
    "": TenantSpec, "exchange.": ExchangeEndpoint, "exchange.tls.": TlsSettings,
    "exchange.windows_powershell_tls.": TlsSettings, "graph.": GraphCredentialSpec, "approval.": ApprovalSpec,
    "verification.": VerificationSpec, "retry.": RetrySpec, "remediation.": RemediationSpec,
    "certificate.": CertificateSpec, "rotation.": RotationSpec, "tenant.": TenantKeysSpec,
}


def test_the_schema_names_every_field_the_code_accepts() -> None:
    in_schema = {name for name, _ in fields()}
    in_code = {prefix + f.name for prefix, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    assert in_schema == in_code


def test_the_schema_defaults_are_the_codes() -> None:
    schema = dict(fields())
    for prefix, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            sub = schema[prefix + f.name]
            if prefix + f.name == "remediation.policy":
                continue  # depends on approval.policy when the section is left out; the description says how
            if f.default is not dataclasses.MISSING and f.default is not None and not dataclasses.is_dataclass(f.default):
                default = list(f.default) if isinstance(f.default, tuple) else f.default
                assert sub.get("default") == default, prefix + f.name


def test_the_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- spec-table")
    start = text.index("\n", start) + 1
    end = text.index("<!-- /spec-table -->")
    assert text[start:end].strip() == markdown_table().strip(), "run `pushproxy spec --table` and paste it in the README"


def test_spec_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA
