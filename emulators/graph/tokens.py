"""Tokens: what the stand-in's Entra ID issues and what its Graph accepts.

One RSA key signs everything the stand-in issues: Graph access tokens (aud https://graph.microsoft.com) and
managed-identity tokens for api://AzureADTokenExchange (the assertion of workload identity federation).
Client authentication at the token endpoint follows Entra ID: a client secret, a client assertion signed with
a registered certificate (x5t or x5t#S256 header, aud = the token endpoint), or a federated assertion that
matches one of the application's federated credentials (issuer, subject, audience).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from emulators.graph.defaults import MI_ISSUER, TOKEN_EXCHANGE_AUDIENCE
from emulators.graph.directory import Directory

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_SCOPE = GRAPH_AUDIENCE + "/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenError(Exception):
    """An OAuth error as Entra answers it: {"error", "error_description" with an AADSTS code}."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = f"AADSTS{aadsts}: {description}"
        self.error_uri = f"https://login.microsoftonline.com/error?code={aadsts}"


@dataclass(frozen=True)
class Caller:
    """Who a Graph access token says is calling."""

    app_id: str
    tenant_id: str
    roles: tuple[str, ...]


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class TokenService:
    """Issues and checks tokens with one signing key (its public half is at the JWKS endpoint)."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def _lifetime(self) -> int:
        return int(self.directory.data.get("settings", {}).get("tokenLifetimeS", 3599))

    # ------------------------------------------------------------------------------------------ managed identity

    def managed_identity_token(self, resource: str, client_id: str | None) -> dict[str, Any]:
        """What the App Service MSI endpoint answers: a token of the managed identity for `resource`."""
        found = self.directory.managed_identity(client_id)
        if found is None:
            raise TokenError(400, "invalid_request", 7000001, "No managed identity matches the requested client_id.")
        mi_client_id, mi = found
        if resource.rstrip("/") != TOKEN_EXCHANGE_AUDIENCE:
            raise TokenError(400, "invalid_resource", 500011, f"The resource principal named {resource} was not found.")
        now = int(time.time())
        lifetime = self._lifetime()
        claims = {
            "aud": TOKEN_EXCHANGE_AUDIENCE,
            "iss": MI_ISSUER,
            "sub": mi["principalId"],
            "oid": mi["principalId"],
            "tid": mi["tenantId"],
            "azp": mi_client_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        return {
            "access_token": self._sign(claims),
            "expires_on": str(now + lifetime),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": mi_client_id,
        }

    # ------------------------------------------------------------------------------------------ token endpoint

    def client_credentials(self, tenant_ref: str, form: dict[str, str], token_endpoint: str) -> dict[str, Any]:
        """The client credentials grant. `token_endpoint` is this request's URL, the audience of client assertions."""
        tenant = self.directory.find_tenant(tenant_ref)
        if tenant is None:
            raise TokenError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant_ref}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud. Check with your subscription administrator, this may happen if there are no "
                "active subscriptions for the tenant.",
            )
        if form.get("grant_type") != "client_credentials":
            raise TokenError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        app = self.directory.application(client_id)
        if app is None or not self.directory.app_in_tenant(app, tenant["id"]):
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant['displayName']}'. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to the wrong "
                "tenant.",
            )
        scopes = form.get("scope", "").split()
        if not scopes or any(
            s.rstrip("/") not in (GRAPH_SCOPE, "00000003-0000-0000-c000-000000000000/.default") for s in scopes
        ):
            raise TokenError(
                400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope', '')} is not valid."
            )
        self._authenticate(client_id, app, form, token_endpoint)
        now = int(time.time())
        lifetime = self._lifetime()
        claims = {
            "aud": GRAPH_AUDIENCE,
            "iss": f"https://sts.windows.net/{tenant['id']}/",
            "tid": tenant["id"],
            "appid": client_id,
            "azp": client_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant['id']}/{client_id}")),
            "idtyp": "app",
            "roles": list(app.get("roles", [])),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "ver": "1.0",
        }
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._sign(claims),
        }

    def _authenticate(self, client_id: str, app: dict[str, Any], form: dict[str, str], token_endpoint: str) -> None:
        if "client_secret" in form:
            expected = app.get("secret") or ""
            if not expected or not hmac.compare_digest(expected.encode(), form["client_secret"].encode()):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                    f"value, not the client secret ID, for a secret added to app '{client_id}'.",
                )
            if app.get("secretExpired"):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000222,
                    f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
                    "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
                    "credentials for added security: https://aka.ms/certCreds.",
                )
            return
        assertion = form.get("client_assertion")
        if not assertion:
            raise TokenError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenError(
                400, "invalid_client", 50027, "Invalid JWT token. The token is not in a valid format."
            ) from None
        if "x5t" in header or "x5t#S256" in header:
            self._check_certificate_assertion(client_id, app, assertion, header, token_endpoint)
        else:
            self._check_federated_assertion(app, assertion)

    def _check_certificate_assertion(
        self, client_id: str, app: dict[str, Any], assertion: str, header: dict[str, Any], token_endpoint: str
    ) -> None:
        cert = None
        for pem_or_b64 in app.get("certificates", []):
            candidate = _load_cert(pem_or_b64)
            der = candidate.public_bytes(Encoding.DER)
            if (
                "x5t" in header and _b64url_decode(header["x5t"]) == hashlib.sha1(der, usedforsecurity=False).digest()
            ) or ("x5t#S256" in header and _b64url_decode(header["x5t#S256"]) == hashlib.sha256(der).digest()):
                cert = candidate
                break
        if cert is None:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application.",
            )
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=token_endpoint,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenError(
                401,
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion audience; expected {token_endpoint}.",
            ) from None
        except jwt.PyJWTError:
            raise TokenError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from None
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise TokenError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )

    def _check_federated_assertion(self, app: dict[str, Any], assertion: str) -> None:
        try:
            claims = jwt.decode(
                assertion,
                self._key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(
                400, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from None
        except jwt.PyJWTError:
            raise TokenError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        records = app.get("federatedCredentials", [])
        if not any(r.get("issuer") == claims["iss"] for r in records):
            raise TokenError(
                400,
                "invalid_client",
                700211,
                f"No matching federated identity record found for presented assertion issuer '{claims['iss']}'.",
            )
        if not any(r.get("issuer") == claims["iss"] and r.get("subject") == claims["sub"] for r in records):
            # The classic answer when the managed identity is not the subject of any federated credential.
            raise TokenError(
                400,
                "invalid_client",
                70021,
                "No matching federated identity record found for presented assertion. Assertion Issuer: "
                f"'{claims['iss']}'. Assertion Subject: '{claims['sub']}'. Assertion Audience: '{', '.join(audiences)}'.",
            )
        if not any(
            r.get("issuer") == claims["iss"]
            and r.get("subject") == claims["sub"]
            and r.get("audience", TOKEN_EXCHANGE_AUDIENCE) in audiences
            for r in records
        ):
            raise TokenError(
                400,
                "invalid_client",
                700212,
                "No matching federated identity record found for presented assertion audience.",
            )

    # ------------------------------------------------------------------------------------------ Graph side

    def check_graph_token(self, authorization: str | None) -> Caller:
        """The caller of a Graph request, from its bearer token. Raises GraphAuthError (401) when it is not valid."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise GraphAuthError("InvalidAuthenticationToken", "Access token is empty.")
        token = authorization.split(" ", 1)[1].strip()
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=[GRAPH_AUDIENCE, "00000003-0000-0000-c000-000000000000"],
                options={"require": ["exp", "aud", "tid"]},
            )
        except jwt.ExpiredSignatureError:
            raise GraphAuthError(
                "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            ) from None
        except jwt.InvalidAudienceError:
            raise GraphAuthError(
                "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            ) from None
        except jwt.PyJWTError:
            raise GraphAuthError("InvalidAuthenticationToken", "Access token validation failure.") from None
        return Caller(
            app_id=str(claims.get("appid", "")), tenant_id=str(claims["tid"]), roles=tuple(claims.get("roles", []))
        )


class GraphAuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _load_cert(value: str) -> x509.Certificate:
    if "-----BEGIN" in value:
        return x509.load_pem_x509_certificate(value.encode())
    return x509.load_der_x509_certificate(base64.b64decode(value))
