"""Property (hypothesis): no sequence of adds and removes ever drops a key we didn't target.

Runs through the real client against the stand-in. Between our operations another party may add its own key;
that key must survive everything we do too.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushproxy.tenant.keys import certificate_facts, plan_add, plan_remove
from pushproxy.tenant.models import KeyCredentialInfo
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, run

FOREIGN = "2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D"
POOL = 4  # certificates we may add or remove; the others are for "someone else"

op = st.one_of(
    st.tuples(st.just("add"), st.integers(0, POOL - 1)),
    st.tuples(st.just("remove"), st.integers(0, POOL - 1)),
    st.tuples(st.just("other_adds"), st.integers(POOL, POOL + 1)),
)


def thumb(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def sp_thumbs(graph: StandIn) -> set[str]:
    return {thumb(base64.b64decode(k["key"])) for k in graph.service_principal()["keyCredentials"]}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=6))
def test_no_sequence_of_adds_and_removes_drops_an_untargeted_key(
    ops: list[tuple[str, int]],
    standin_module: tuple[StandIn, dict[str, Any]],
    certs: list[tuple[bytes, str]],
    monkeypatch_env: None,
) -> None:
    graph, initial = standin_module
    graph.put_state(initial)
    expected = {FOREIGN}

    async def go() -> None:
        async with client_for(graph) as c:
            for kind, i in ops:
                der = certs[i][0]
                if kind == "add":
                    await c.add_certificate_key(der)
                    expected.add(thumb(der))
                elif kind == "remove":
                    await c.remove_key(thumb(der))
                    expected.discard(thumb(der))
                else:
                    state = graph.state()
                    keys = state["tenants"][graph.tenant_id]["servicePrincipals"][0]["keyCredentials"]
                    if thumb(der) not in sp_thumbs(graph):
                        keys.append(
                            {
                                "type": "AsymmetricX509Cert",
                                "usage": "Verify",
                                "key": base64.b64encode(der).decode(),
                                "keyId": f"00000000-0000-4000-8000-00000000000{i}",
                            }
                        )
                        graph.put_state(state)
                    expected.add(thumb(der))
                assert sp_thumbs(graph) == expected, (kind, i)

    run(go())


@settings(max_examples=200, deadline=None)
@given(present=st.sets(st.integers(0, 5)), target=st.integers(0, 5), adding=st.booleans())
def test_planned_collection_is_existing_plus_or_minus_exactly_the_target(
    present: set[int], target: int, adding: bool, certs: list[tuple[bytes, str]]
) -> None:
    keys = tuple(
        KeyCredentialInfo(
            key_id=str(i),
            type="AsymmetricX509Cert",
            usage="Verify",
            thumbprint=thumb(certs[i][0]),
            key_b64=base64.b64encode(certs[i][0]).decode(),
        )
        for i in sorted(present)
    )
    before = {k.thumbprint for k in keys}
    der = certs[target][0]
    body = plan_add(keys, certificate_facts(der)) if adding else plan_remove(keys, thumb(der))
    if (target in present) == adding:
        assert body is None  # nothing to do: no write at all
        return
    assert body is not None
    after = [k.thumbprint for k in body]
    assert len(after) == len(set(after))
    assert set(after) == (before | {thumb(der)} if adding else before - {thumb(der)})
