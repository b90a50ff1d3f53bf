"""The key upload through the real msgraph-sdk, against the Graph stand-in: a PATCH slower than the client's
timeout is looked for before it is sent again (one PATCH), and every key we don't target stays byte for byte as
it was, whatever its fields (a hypothesis property)."""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushproxy.tenant.client import TenantClient
from pushproxy.tenant.models import GraphCredentialSpec
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, run

APP = "00000002-0000-0ff1-ce00-000000000000"
TENANT = "11111111-2222-3333-4444-555555555555"
FIELDS = ("keyId", "displayName", "customKeyIdentifier", "startDateTime", "endDateTime", "key", "type", "usage")


def patches(graph: StandIn) -> list[dict[str, Any]]:
    return [e for e in graph.journal() if e["operation"].startswith("PATCH")]


def test_a_patch_slower_than_the_timeout_is_sent_once(graph: StandIn, certs: list[tuple[bytes, str]]) -> None:
    der = certs[2][0]
    graph.faults([{"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": {"kind": "delay", "delay_s": 4.0},
                   "times": 1}])

    async def go() -> Any:
        spec = GraphCredentialSpec.from_dict(graph.credential_spec("secret"))
        async with TenantClient(spec, "fabrikam.com", timeout_s=2.0, consistency_wait_s=1.0,
                                consistency_delay_s=0.1, backoff_base_s=0.1, max_retry_wait_s=5.0) as client:
            return await client.add_certificate_key(der)

    change = run(go())
    assert change.action == "added" and change.writes == 1
    sent = patches(graph)
    assert len(sent) == 1, [p.get("outcome") for p in sent]
    keys = graph.service_principal()["keyCredentials"]
    assert sum(1 for k in keys if base64.b64decode(k["key"]) == der) == 1


# ------------------------------------------------------------------------------------------- foreign keys

NAMES = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=90),
    st.sampled_from(["Contoso partner key (do not remove)", "CN=Microsoft Exchange Server Auth Certificate", ""]),
)
WHEN = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2045, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))


@st.composite
def foreign_key(draw: st.DrawFn, pool: list[tuple[bytes, str]]) -> dict[str, Any]:
    der = draw(st.sampled_from(pool))[0]
    start = draw(WHEN)
    end = start + timedelta(days=draw(st.integers(1, 3650)))
    key: dict[str, Any] = {
        "keyId": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "type": "AsymmetricX509Cert",
        "usage": draw(st.sampled_from(["Verify", "Verify", "Sign"])),
        "key": base64.b64encode(der).decode(),
        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    custom = draw(st.one_of(st.none(), st.binary(min_size=1, max_size=40)))
    if custom is not None:
        key["customKeyIdentifier"] = base64.b64encode(custom).decode()
    name = draw(NAMES)
    if name is not None:
        key["displayName"] = name
    return key


def fields(key: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(key.get(f) for f in FIELDS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_key_we_dont_target_stays_byte_for_byte(
    graph: StandIn, certs: list[tuple[bytes, str]], data: st.DataObject
) -> None:
    """For any mix of foreign keys, after any of our writes (an add, a remove), the others are unchanged."""
    pool = certs[3:7]
    foreign = data.draw(st.lists(foreign_key(pool), min_size=0, max_size=4, unique_by=lambda k: k["keyId"]))
    ours = certs[7][0]
    state = graph.state()
    sp = next(s for s in state["tenants"][TENANT]["servicePrincipals"] if s["appId"] == APP)
    sp["keyCredentials"] = copy.deepcopy(foreign)
    graph.put_state(state)
    before = {k["keyId"]: fields(k) for k in graph.service_principal()["keyCredentials"]}
    assert len(before) == len(foreign)

    async def go() -> None:
        async with client_for(graph) as client:
            await client.add_certificate_key(ours)
            check(graph, before)
            if data.draw(st.booleans(), label="then remove ours"):
                from pushproxy.tenant.models import thumbprint_of

                await client.remove_key(thumbprint_of(ours))
                check(graph, before)

    run(go())


def check(graph: StandIn, before: dict[str, tuple[Any, ...]]) -> None:
    after = {k["keyId"]: fields(k) for k in graph.service_principal()["keyCredentials"]}
    for key_id, was in before.items():
        assert after.get(key_id) == was, (key_id, was, after.get(key_id))
