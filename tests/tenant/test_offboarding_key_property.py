"""Property (hypothesis): offboarding and pruning remove exactly our targeted keys, and every other key survives
with every field as it was (keyId, key bytes, customKeyIdentifier, displayName, start and end), whatever the mix.

Two layers: the pure selection and PATCH body (many examples, duplicates of one certificate under two keyIds
included), and the real client against the Graph stand-in (fewer examples: every one is a PATCH and read-backs).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushproxy.offboarding_plan import select_keys
from pushproxy.tenant.keys import plan_remove_many
from pushproxy.tenant.models import KeyCredentialInfo
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, run

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# One credential: which certificate (0..5), whether our registry says we uploaded it, whether it has expired.
credential = st.tuples(st.integers(0, 5), st.booleans(), st.booleans())


def thumb(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def fake_der(i: int) -> bytes:
    return f"certificate-{i}".encode()


def info(index: int, i: int, expired: bool) -> KeyCredentialInfo:
    der = fake_der(i)
    return KeyCredentialInfo(
        key_id=f"{index:08d}-0000-4000-8000-000000000000",
        type="AsymmetricX509Cert",
        usage="Verify",
        thumbprint=thumb(der),
        display_name=f"key {index}",
        start=NOW - timedelta(days=400),
        end=NOW - timedelta(days=1) if expired else NOW + timedelta(days=100),
        custom_key_identifier_b64=base64.b64encode(hashlib.sha1(der, usedforsecurity=False).digest()).decode(),
        key_b64=base64.b64encode(der).decode(),
    )


@settings(max_examples=300, deadline=None)
@given(mix=st.lists(credential, max_size=10), prune=st.booleans())
def test_selection_and_body_remove_exactly_our_targeted_keys(mix: list[tuple[int, bool, bool]], prune: bool) -> None:
    keys = [info(n, i, expired) for n, (i, _, expired) in enumerate(mix)]
    ours = {thumb(fake_der(i)) for i, mine, _ in mix if mine}
    counts: dict[str, int] = {}
    for k in keys:
        counts[k.thumbprint or ""] = counts.get(k.thumbprint or "", 0) + 1

    selection = select_keys(keys, ours, expired_before=NOW if prune else None)

    # Targeted: ours, held by one credential only (a certificate someone else uploaded too is left alone), and for a
    # prune expired.
    targeted = [k for k in keys if k.thumbprint in ours and counts[k.thumbprint or ""] == 1
                and (not prune or (k.end is not None and k.end <= NOW))]
    assert list(selection.remove) == targeted
    assert [k for k in keys if k not in targeted] == list(selection.keep)
    body = plan_remove_many(keys, selection.thumbprints) if selection.remove else None
    if body is None:
        assert not targeted
        return
    # Every other key is sent back with every field as read; none of the targeted is.
    assert [(b.key_id, b.key_der, b.custom_key_identifier, b.display_name, b.start, b.end, b.type, b.usage) for b in body] == [
        (k.key_id, k.key_der, base64.b64decode(k.custom_key_identifier_b64 or ""), k.display_name, k.start, k.end, k.type,
         k.usage)
        for k in selection.keep
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mix=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=6), prune=st.booleans())
def test_removal_through_graph_keeps_every_other_key_field_for_field(
    mix: list[tuple[bool, bool]],
    prune: bool,
    standin_module: tuple[StandIn, dict[str, Any]],
    certs: list[tuple[bytes, str]],
    monkeypatch_env: None,
) -> None:
    graph, initial = standin_module
    state = copy.deepcopy(initial)
    sp = state["tenants"][graph.tenant_id]["servicePrincipals"][0]
    now = datetime.now(UTC).replace(microsecond=0)
    ours: set[str] = set()
    for n, (mine, expired) in enumerate(mix):
        der = certs[n][0]
        end = now - timedelta(days=1) if expired else now + timedelta(days=200)
        sp["keyCredentials"].append({
            "keyId": f"{n:08d}-aaaa-4bbb-8ccc-dddddddddddd",
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": base64.b64encode(der).decode(),
            "displayName": f"credential {n}" + (" (ours)" if mine else ""),
            "customKeyIdentifier": base64.b64encode(bytes.fromhex(thumb(der))).decode(),
            "startDateTime": (now - timedelta(days=30)).isoformat().replace("+00:00", "Z"),
            "endDateTime": end.isoformat().replace("+00:00", "Z"),
        })
        if mine:
            ours.add(thumb(der))
    graph.put_state(state)
    before = graph.service_principal()["keyCredentials"]

    async def go() -> tuple[str, ...]:
        async with client_for(graph) as c:
            read = await c.get_exchange_service_principal()
            assert read is not None
            selection = select_keys(read.key_credentials, ours, expired_before=now if prune else None)
            if selection.remove:
                await c.remove_keys(selection.thumbprints)
            return selection.thumbprints

    removed = set(run(go()))

    after = graph.service_principal()["keyCredentials"]
    def expired(k: dict[str, Any]) -> bool:
        return datetime.fromisoformat(k["endDateTime"].replace("Z", "+00:00")) <= now

    expected_removed = {thumb(base64.b64decode(k["key"])) for k in before
                        if thumb(base64.b64decode(k["key"])) in ours and (not prune or expired(k))}
    assert removed == expected_removed
    # Exactly the others, each exactly as it was (every field Graph holds).
    assert after == [k for k in before if thumb(base64.b64decode(k["key"])) not in removed]
