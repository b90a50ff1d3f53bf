"""Secret references: `file:NAME` is a key of secrets.json, `path:/FILE` is one file of its own (mode 0600)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushproxy.errors import SecretError, SpecError
from pushproxy.secrets import is_secret_ref, resolve_secret
from pushproxy.tenant.models import GraphCredentialSpec

CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"


def test_a_path_reference_reads_a_0600_file(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text(PEM, encoding="utf-8")
    pem.chmod(0o600)
    assert is_secret_ref(f"path:{pem}")
    assert resolve_secret(f"path:{pem}") == PEM.rstrip("\n")


def test_a_path_reference_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text(PEM, encoding="utf-8")
    pem.chmod(0o644)
    with pytest.raises(SecretError, match="must be mode 0600"):
        resolve_secret(f"path:{pem}")


def test_a_relative_path_is_not_a_reference() -> None:
    assert not is_secret_ref("path:app.pem")


def test_file_with_a_path_says_what_file_means() -> None:
    with pytest.raises(SpecError) as bad:
        GraphCredentialSpec.from_dict({"mode": "certificate", "client_id": CLIENT_ID, "certificate_ref": "file:/etc/app.pem"})
    assert "key of the secrets file" in str(bad.value) and "path:/" in str(bad.value)
    assert "/etc/app.pem" not in str(bad.value)
