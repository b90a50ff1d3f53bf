"""Secret references: `file:NAME` is a key of secrets.json, `path:/FILE` is one file of its own (mode 0600)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushproxy.errors import SecretError, SpecError
from pushproxy.secrets import OWN, is_secret_ref, resolve_secret, tenant_env_name, tenant_keyvault_name
from pushproxy.tenant.models import GraphCredentialSpec

CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"


def test_a_path_reference_reads_a_0600_file(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text(PEM, encoding="utf-8")
    pem.chmod(0o600)
    assert is_secret_ref(f"path:{pem}")
    assert resolve_secret(f"path:{pem}", OWN) == PEM.rstrip("\n")


def test_a_path_reference_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text(PEM, encoding="utf-8")
    pem.chmod(0o644)
    with pytest.raises(SecretError, match="must be mode 0600"):
        resolve_secret(f"path:{pem}", OWN)


def test_a_relative_path_is_not_a_reference() -> None:
    assert not is_secret_ref("path:app.pem")


def test_file_with_a_path_says_what_file_means() -> None:
    with pytest.raises(SpecError) as bad:
        GraphCredentialSpec.from_dict({"mode": "certificate", "client_id": CLIENT_ID, "certificate_ref": "file:/etc/app.pem"})
    assert "key of the secrets file" in str(bad.value) and "path:/" in str(bad.value)
    assert "/etc/app.pem" not in str(bad.value)


def test_environment_and_key_vault_names_resolve_within_the_tenants_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tenant_env_name("fabrikam.com", "EXCHANGE_PASSWORD") == "PUSHPROXY_FABRIKAM_COM___EXCHANGE_PASSWORD"
    assert tenant_env_name("contoso-eu.com", "X") == "PUSHPROXY_CONTOSO__EU_COM___X"
    assert tenant_keyvault_name("fabrikam.com", "exchange-password") == "fabrikam-com---exchange-password"
    monkeypatch.setenv("PUSHPROXY_FABRIKAM_COM___EXCHANGE_PASSWORD", "fabrikam's")
    monkeypatch.setenv("EXCHANGE_PASSWORD", "the service's own")
    assert resolve_secret("env:EXCHANGE_PASSWORD", "fabrikam.com") == "fabrikam's"
    # Another tenant naming the same reference reads its own namespace: nothing there.
    with pytest.raises(SecretError, match="PUSHPROXY_CONTOSO_COM___EXCHANGE_PASSWORD is not set"):
        resolve_secret("env:EXCHANGE_PASSWORD", "contoso.com")
    # The service's own settings are out of every tenant's reach.
    monkeypatch.setenv("IDENTITY_HEADER", "the managed identity's")
    with pytest.raises(SecretError):
        resolve_secret("env:IDENTITY_HEADER", "fabrikam.com")


def test_nothing_resolves_outside_a_namespace() -> None:
    with pytest.raises(SecretError, match="outside any tenant's namespace"):
        resolve_secret("env:HOME")


@pytest.mark.parametrize(("a", "b"), [("a-b.com", "a.b.com"), ("xn--a.com", "xn.a.com"), ("a.b-c.com", "a-b.c.com"),
                                      ("ab.com", "a.b.com")])
def test_two_tenants_never_share_a_name(a: str, b: str) -> None:
    for name in ("X", "X___Y", "Y_Z"):
        assert tenant_env_name(a, name) != tenant_env_name(b, name)
        assert tenant_keyvault_name(a, name.replace("_", "-")) != tenant_keyvault_name(b, name.replace("_", "-"))


@pytest.mark.parametrize("ref", ["env:X\n", "env:_X", "keyvault:a_b", "keyvault:a\n", "file:x\n", "path:/a\n", "env:X;Y"])
def test_references_are_matched_whole(ref: str) -> None:
    assert not is_secret_ref(ref)
