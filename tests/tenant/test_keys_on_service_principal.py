"""Adding and removing the Auth certificate's key through the real msgraph-sdk, against the stand-in over TLS."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

import pytest

from pushproxy.errors import SpecError, TenantError
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, graph_calls, run

FOREIGN = "2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D"  # the default tenant's key that belongs to someone else


def thumb(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def sp_thumbs(graph: StandIn) -> set[str]:
    return {thumb(base64.b64decode(k["key"])) for k in graph.service_principal()["keyCredentials"]}


def test_existing_keys_survive_upload(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    der = certs[0][0]

    async def go() -> None:
        async with client_for(graph) as c:
            change = await c.add_certificate_key(der)
            assert change.action == "added"
            assert change.thumbprint == thumb(der)
            assert change.kept == (FOREIGN,)
            assert (change.keys_before, change.keys_after, change.writes) == (1, 2, 1)

    run(go())
    assert sp_thumbs(graph) == {FOREIGN, thumb(der)}


def test_new_key_carries_thumbprint_name_and_dates_of_the_certificate(
    graph: StandIn, certs: list[tuple[bytes, str]]
) -> None:
    der = certs[1][0]
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    run(_add(graph, der))
    patch = next(e for e in graph.journal() if e["operation"].startswith("PATCH"))
    sent = patch["parameters"]["body"]["keyCredentials"]
    new = next(k for k in sent if base64.b64decode(k["key"]) == der)
    assert base64.b64decode(new["customKeyIdentifier"]) == hashlib.sha1(der).digest()
    assert new["displayName"] == "CN=Microsoft Exchange Server Auth Certificate 1"
    assert new["type"] == "AsymmetricX509Cert" and new["usage"] == "Verify"
    assert datetime.fromisoformat(new["startDateTime"]) == cert.not_valid_before_utc
    assert datetime.fromisoformat(new["endDateTime"]) == cert.not_valid_after_utc
    # The key travels as base64 of the raw DER (the SDK encodes the bytes; we never pass base64 text).
    assert new["key"] == base64.b64encode(der).decode()


def test_keys_we_do_not_own_stay_byte_for_byte(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # Issue 14 item 6: a kept key is re-sent with its keyId and every field as read, so Graph keeps that
    # credential as it was (keyId, displayName, customKeyIdentifier, dates); re-sent without its keyId it would
    # be a new credential with Graph's own displayName and dates.
    state = graph.state()
    foreign = state["tenants"][graph.tenant_id]["servicePrincipals"][0]["keyCredentials"][0]
    foreign["displayName"] = "Contoso hybrid (do not touch)"
    foreign["customKeyIdentifier"] = base64.b64encode(b"contoso-custom-id").decode()
    foreign["startDateTime"] = "2024-06-01T12:34:56Z"
    graph.put_state(state)
    before = json.dumps(foreign, sort_keys=True)
    run(_add(graph, certs[2][0]))
    after = [k for k in graph.service_principal()["keyCredentials"] if k["keyId"] == foreign["keyId"]]
    assert [json.dumps(k, sort_keys=True) for k in after] == [before]
    patch = next(e for e in graph.journal() if e["operation"].startswith("PATCH"))
    kept = [k for k in patch["parameters"]["body"]["keyCredentials"] if base64.b64decode(k["key"]) != certs[2][0]]
    assert [k["keyId"] for k in kept] == [foreign["keyId"]]


def test_upload_is_idempotent_by_thumbprint(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    der = certs[3][0]

    async def go() -> None:
        async with client_for(graph) as c:
            first = await c.add_certificate_key(der)
            graph.clear_journal()
            second = await c.add_certificate_key(der)
            assert first.action == "added" and second.action == "none"
            assert second.key_id == first.key_id and second.writes == 0

    run(go())
    # Reads until two agree (a lagging replica may still show an older collection), no PATCH.
    calls = [op.split()[0] for op in graph_calls(graph)]
    assert "PATCH" not in calls and 2 <= len(calls) <= 6


def test_remove_keeps_every_other_key(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    a, b = certs[4][0], certs[5][0]

    async def go() -> None:
        async with client_for(graph) as c:
            await c.add_certificate_key(a)
            await c.add_certificate_key(b)
            change = await c.remove_key(thumb(a).lower())
            assert change.action == "removed"
            assert set(change.kept) == {FOREIGN, thumb(b)}
            again = await c.remove_key(thumb(a))
            assert again.action == "none"

    run(go())
    assert sp_thumbs(graph) == {FOREIGN, thumb(b)}


def test_graph_requests_for_one_upload(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    run(_add(graph, certs[6][0]))
    calls = [op.split()[0] for op in graph_calls(graph)]
    # Two reads that agree before the write, the write, then reads until two agree on it. How many read-backs
    # depends on when the lagging replica catches up: bounded, not exact.
    assert calls[:3] == ["GET", "GET", "PATCH"] and calls.count("PATCH") == 1
    assert 2 <= len(calls) - 3 <= 6 and set(calls[3:]) == {"GET"}
    tokens = [e for e in graph.journal() if e["endpoint"].endswith("/oauth2/v2.0/token")]
    assert len(tokens) == 1


def test_not_a_certificate_is_refused_before_any_request(graph: StandIn) -> None:
    with pytest.raises(SpecError) as err:
        run(_add(graph, base64.b64encode(b"not a certificate")))
    assert err.value.field == "cert_der"
    assert graph_calls(graph) == []


def test_refuses_to_write_when_graph_hides_a_key(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # A key without bytes could not be re-sent; a PATCH would delete it. The client must not write.
    state = graph.state()
    sp = state["tenants"][graph.tenant_id]["servicePrincipals"][0]
    sp["keyCredentials"][0]["key"] = None
    graph.put_state(state)
    with pytest.raises(TenantError) as err:
        run(_add(graph, certs[7][0]))
    assert err.value.code == "KeyBytesMissing"
    assert not any(op.startswith("PATCH") for op in graph_calls(graph))


def test_no_exchange_service_principal(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    state = graph.state()
    state["tenants"][graph.tenant_id]["servicePrincipals"] = []
    graph.put_state(state)

    async def go() -> None:
        async with client_for(graph) as c:
            assert await c.get_exchange_service_principal() is None
            with pytest.raises(TenantError) as err:
                await c.add_certificate_key(certs[0][0])
            assert err.value.code == "NoExchangeServicePrincipal"

    run(go())


async def _add(graph: StandIn, der: bytes) -> None:
    async with client_for(graph) as c:
        await c.add_certificate_key(der)
