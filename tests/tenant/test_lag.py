"""Eventual consistency: the stand-in's replicas lag (TEST_LAG_MS, one current and one behind) and no key is lost.

Through the real msgraph-sdk against the lagging stand-in: renewal (current and next key in one PATCH), removal
keeping the others, reads that disagree, and a hypothesis property over interleavings of our writes, the lag and
another writer's additions (made before our call starts: one added between our last read and our PATCH is the
case no client can prevent, pinned in test_concurrent_change.py).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, graph_calls, run

FOREIGN = "2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D"
OURS = 4  # certs[0..3] are ours to add and remove; certs[4..7] belong to another writer


def thumb(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def sp_thumbs(graph: StandIn) -> set[str]:
    """What the primary holds (the admin API reads the primary, not a replica)."""
    return {thumb(base64.b64decode(k["key"])) for k in graph.service_principal()["keyCredentials"]}


def their_key(der: bytes, i: int) -> dict[str, Any]:
    return {
        "keyId": f"0d0d0d0d-1111-4222-8333-44445555000{i}",
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64.b64encode(der).decode(),
        "displayName": f"CN=other writer {i}",
        "customKeyIdentifier": base64.b64encode(hashlib.sha1(der).digest()).decode(),
        "startDateTime": "2026-01-01T00:00:00Z",
        "endDateTime": "2027-01-01T00:00:00Z",
    }


def test_replicas_serve_stale_reads_round_robin(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # The stand-in itself: right after a write, the lagging replica still shows the old collection (a lag of 60 s
    # here, so that the check does not depend on how fast this machine is).
    state = graph.state()
    state["settings"]["replicationLagMs"] = [0, 60000]
    graph.put_state(state)
    graph.other_writer_adds(their_key(certs[4][0], 4))
    seen = []

    async def go() -> None:
        async with client_for(graph) as c:
            for _ in range(2):
                sp = await c.get_exchange_service_principal()
                assert sp is not None
                seen.append({k.thumbprint for k in sp.key_credentials})

    run(go())
    replicas = [e.get("replica") for e in graph.journal() if e["endpoint"].startswith("/v1.0/servicePrincipals")]
    assert sorted(replicas) == [0, 1]
    assert thumb(certs[4][0]) in seen[replicas.index(0)]  # the current replica has it
    assert thumb(certs[4][0]) not in seen[replicas.index(1)]  # the lagging one not yet


def test_renewal_uploads_current_and_next_key_in_one_patch(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    current, nxt = certs[0][0], certs[1][0]

    async def go() -> Any:
        async with client_for(graph) as c:
            return await c.add_certificate_keys([current, nxt])

    change = run(go())
    assert change.action == "added" and change.writes == 1
    assert change.thumbprints == (thumb(current), thumb(nxt))
    assert sp_thumbs(graph) == {FOREIGN, thumb(current), thumb(nxt)}
    assert [op.split()[0] for op in graph_calls(graph)].count("PATCH") == 1


def test_a_key_added_just_before_our_call_survives_a_stale_first_read(
    graph: StandIn, certs: list[tuple[bytes, str]]
) -> None:
    # Another writer adds a key; our first read may come from the replica that hasn't seen it. Reading until two
    # reads agree, and keeping every key any read showed, keeps it.
    theirs = certs[5][0]
    graph.other_writer_adds(their_key(theirs, 5))

    async def go() -> Any:
        async with client_for(graph) as c:
            return await c.add_certificate_key(certs[2][0])

    run(go())
    assert sp_thumbs(graph) == {FOREIGN, thumb(theirs), thumb(certs[2][0])}


def test_removal_right_after_our_upload_keeps_the_others(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    # Offboarding-like: remove our key within the lag of adding it; the lagging replica still lacks it at first.
    ours = certs[3][0]
    graph.other_writer_adds(their_key(certs[6][0], 6))

    async def go() -> Any:
        async with client_for(graph) as c:
            await c.add_certificate_key(ours)
            return await c.remove_key(thumb(ours))

    removal = run(go())
    assert removal.action == "removed"
    assert sp_thumbs(graph) == {FOREIGN, thumb(certs[6][0])}


op = st.one_of(
    st.tuples(st.just("add"), st.sets(st.integers(0, OURS - 1), min_size=1, max_size=2)),
    st.tuples(st.just("remove"), st.integers(0, OURS - 1)),
    st.tuples(st.just("other_adds"), st.integers(OURS, OURS + 3)),
    st.tuples(st.just("pause"), st.sampled_from([0, 50, 200])),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=5))
def test_no_interleaving_of_our_writes_lag_and_another_writer_loses_a_key(
    ops: list[tuple[str, Any]],
    standin_module: tuple[StandIn, dict[str, Any]],
    certs: list[tuple[bytes, str]],
    monkeypatch_env: None,
) -> None:
    graph, initial = standin_module
    graph.put_state(initial)  # keeps the lag settings; every replica starts current
    expected = {FOREIGN}
    removed: set[str] = set()

    async def go() -> None:
        async with client_for(graph) as c:
            for kind, arg in ops:
                if kind == "add":
                    ders = [certs[i][0] for i in sorted(arg)]
                    await c.add_certificate_keys(ders)
                    expected.update(thumb(d) for d in ders)
                    removed.difference_update(thumb(d) for d in ders)
                elif kind == "remove":
                    await c.remove_key(thumb(certs[arg][0]))
                    expected.discard(thumb(certs[arg][0]))
                    removed.add(thumb(certs[arg][0]))
                elif kind == "other_adds":
                    if thumb(certs[arg][0]) not in sp_thumbs(graph):
                        graph.other_writer_adds(their_key(certs[arg][0], arg))
                    expected.add(thumb(certs[arg][0]))
                else:
                    time.sleep(arg / 1000)

    run(go())
    final = sp_thumbs(graph)
    assert expected <= final, ops  # nothing that existed, that we added or that they added is missing
    assert not (removed & final), ops  # and what we removed stayed removed
