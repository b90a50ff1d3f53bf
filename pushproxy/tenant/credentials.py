"""azure-identity credentials for a GraphCredentialSpec. Secrets are resolved here, used, and never kept in
anything that is logged or serialised.

Workload identity federation: the managed identity's token for api://AzureADTokenExchange is the client
assertion of the multi-tenant application. azure-identity's async ClientAssertionCredential calls its `func`
synchronously, so the assertion is fetched asynchronously beforehand (`FederatedAssertion.refresh`) and `func`
only returns it: no blocking I/O on the event loop.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import (
    CertificateCredential,
    ClientAssertionCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
)

from pushproxy.errors import SecretError, SpecError
from pushproxy.secrets import resolve_secret
from pushproxy.settings import setting
from pushproxy.tenant.models import GraphCredentialSpec

TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"
# Refresh the federated assertion when it has less than this left (Entra refuses an expired assertion).
_ASSERTION_MARGIN_S = 300


class FederatedAssertion:
    """The managed identity's token for api://AzureADTokenExchange, as a sync callable for ClientAssertionCredential."""

    def __init__(self, managed_identity: AsyncTokenCredential) -> None:
        self._mi = managed_identity
        self._token: str | None = None
        self._expires_on = 0

    async def refresh(self) -> None:
        if self._token is None or self._expires_on - time.time() < _ASSERTION_MARGIN_S:
            token = await self._mi.get_token(TOKEN_EXCHANGE_SCOPE)
            self._token, self._expires_on = token.token, token.expires_on

    def __call__(self) -> str:
        if self._token is None:
            raise RuntimeError("FederatedAssertion.refresh() must run before a token is requested")
        return self._token

    def __repr__(self) -> str:  # never show the assertion
        return "FederatedAssertion(<managed identity token>)"

    async def close(self) -> None:
        await self._mi.close()


class GraphCredential:
    """An async azure-identity credential for the spec, plus what must be awaited before using it."""

    def __init__(self, credential: AsyncTokenCredential, assertion: FederatedAssertion | None = None) -> None:
        self.credential = credential
        self.assertion = assertion

    async def prepare(self) -> None:
        if self.assertion is not None:
            await self.assertion.refresh()

    async def close(self) -> None:
        await self.credential.close()
        if self.assertion is not None:
            await self.assertion.close()


def build_credential(spec: GraphCredentialSpec, tenant_id: str) -> GraphCredential:
    """The credential for signing in to `tenant_id` as `spec.client_id`. Raises SecretError or SpecError."""
    common: dict[str, Any] = {"authority": spec.authority}
    if spec.authority.rstrip("/") != "https://login.microsoftonline.com":
        # A non-public authority (sovereign cloud or the stand-in) has no instance discovery metadata.
        common["disable_instance_discovery"] = True
    if spec.ca_bundle:
        common["connection_verify"] = spec.ca_bundle
    if spec.mode == "secret":
        assert spec.secret_ref is not None  # checked by GraphCredentialSpec
        secret = resolve_secret(spec.secret_ref)
        return GraphCredential(ClientSecretCredential(tenant_id, spec.client_id, secret, **common))
    if spec.mode == "certificate":
        assert spec.certificate_ref is not None
        pem = resolve_secret(spec.certificate_ref)
        if "PRIVATE KEY" not in pem or "CERTIFICATE" not in pem:
            raise SecretError(spec.certificate_ref, "must hold a PEM private key and its certificate")
        password = resolve_secret(spec.certificate_password_ref) if spec.certificate_password_ref else None
        try:
            credential = CertificateCredential(
                tenant_id, spec.client_id, certificate_data=pem.encode(), password=password, **common
            )
        except ValueError:
            # cryptography's message may quote key material; keep only that it failed.
            raise SecretError(
                spec.certificate_ref, "the PEM could not be loaded (wrong password or not a key and certificate)"
            ) from None
        return GraphCredential(credential)
    if spec.mode == "workload_identity":
        mi_kwargs: dict[str, Any] = {}
        if spec.ca_bundle:
            mi_kwargs["connection_verify"] = spec.ca_bundle
        # A user-assigned identity: the spec's, else the Function App's (AZURE_CLIENT_ID); none means system-assigned.
        mi_client_id = spec.managed_identity_client_id or setting("AZURE_CLIENT_ID")
        managed_identity = ManagedIdentityCredential(client_id=mi_client_id, **mi_kwargs)
        assertion = FederatedAssertion(managed_identity)
        federated = ClientAssertionCredential(tenant_id, spec.client_id, func=assertion, **common)
        return GraphCredential(federated, assertion)
    raise SpecError("mode", f"unknown credential mode {spec.mode!r}")
