"""Another writer changes keyCredentials while we write (see the race notes in pushproxy/tenant/client.py)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pushproxy.errors import TenantError
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, graph_calls, run

FOREIGN = "2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D"


def thumb(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def sp_thumbs(graph: StandIn) -> set[str]:
    return {thumb(base64.b64decode(k["key"])) for k in graph.service_principal()["keyCredentials"]}


def other_key(der: bytes) -> dict[str, object]:
    return {
        "keyId": "0d0d0d0d-1111-4222-8333-444455556666",
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64.b64encode(der).decode(),
        "displayName": "CN=other writer",
    }


def _add(graph: StandIn, der: bytes) -> object:
    async def go() -> object:
        async with client_for(graph) as c:
            return await c.add_certificate_key(der)

    return run(go())


def test_stale_writer_after_our_patch_is_detected_and_we_write_again(
    graph: StandIn, certs: list[tuple[bytes, str]]
) -> None:
    # The other writer read before our PATCH and writes its view plus its key after it: our key vanishes.
    ours, theirs = certs[0][0], certs[1][0]
    graph.faults(
        [
            {
                "when": {"operation": "PATCH /v1.0/servicePrincipals"},
                "fail": {"kind": "concurrent_key", "at": "after", "keyCredential": other_key(theirs)},
                "times": 1,
            }
        ]
    )
    change = _add(graph, ours)
    assert change.action == "added" and change.writes == 2  # type: ignore[attr-defined]
    assert thumb(ours) in change.concurrent_changes and thumb(theirs) in change.concurrent_changes  # type: ignore[attr-defined]
    assert sp_thumbs(graph) == {FOREIGN, thumb(ours), thumb(theirs)}  # nobody's key lost
    methods = [op.split()[0] for op in graph_calls(graph)]
    # Reads until two agree, the PATCH, read-backs until the wait bound (ours stays missing), the second PATCH.
    assert methods[:2] == ["GET", "GET"] and methods.count("PATCH") == 2 and methods[-1] == "GET"


def test_key_added_by_someone_after_our_write_is_kept(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # Someone adds a key (keeping ours) right after our PATCH: our read-back sees an extra key and leaves it.
    ours, theirs = certs[2][0], certs[3][0]

    async def go() -> object:
        async with client_for(graph) as c:
            change = await c.add_certificate_key(ours)
            state = graph.state()
            state["tenants"][graph.tenant_id]["servicePrincipals"][0]["keyCredentials"].append(other_key(theirs))
            graph.put_state(state)
            removal = await c.remove_key(thumb(ours))
            return change, removal

    change, removal = run(go())  # type: ignore[misc]
    assert change.writes == 1 and removal.action == "removed"
    assert sp_thumbs(graph) == {FOREIGN, thumb(theirs)}


def test_writer_that_never_stops_gives_a_transient_error(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    graph.faults(
        [{"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": {"kind": "concurrent_key", "at": "after"}}]
    )
    with pytest.raises(TenantError) as err:
        _add(graph, certs[4][0])
    assert err.value.code == "ConcurrentKeyChange" and err.value.transient
    assert FOREIGN in sp_thumbs(graph)


def test_key_added_between_our_read_and_our_patch_is_lost_and_invisible(
    graph: StandIn, certs: list[tuple[bytes, str]]
) -> None:
    """The documented limit: Graph has no conditional write for keyCredentials.

    A key that lands after our read and before our PATCH is replaced away by the PATCH and leaves no trace in
    the collection, so neither our read-back nor any other client can see it. This pins that behaviour so a
    change in it (or in our claims about it) is noticed.
    """
    ours, theirs = certs[5][0], certs[6][0]
    graph.faults(
        [
            {
                "when": {"operation": "PATCH /v1.0/servicePrincipals"},
                "fail": {"kind": "concurrent_key", "at": "before", "keyCredential": other_key(theirs)},
                "times": 1,
            }
        ]
    )
    change = _add(graph, ours)
    assert change.action == "added" and change.writes == 1 and change.concurrent_changes == ()  # type: ignore[attr-defined]
    assert sp_thumbs(graph) == {FOREIGN, thumb(ours)}
    assert any(e.get("concurrent_key") for e in graph.journal())  # only the stand-in's journal knows
