"""Property (hypothesis): across both collections (the shared principal's and the dedicated hybrid app's
keyCredentials) and any mix of foreign keys, no operation of ours removes a key we did not target.

Two layers: the pure planning (pushproxy.hybrid.key_targets choosing the collections, pushproxy.tenant.keys
planning each PATCH) over many examples, and the real client against the Graph stand-in over a few.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushproxy.hybrid import HybridMode, key_targets
from pushproxy.tenant.keys import certificate_facts, plan_add, plan_remove_many
from pushproxy.tenant.models import (
    EXCHANGE_ONLINE_APP_ID,
    SHARED_PRINCIPAL,
    GraphCredentialSpec,
    HybridApplication,
    KeyCredentialInfo,
    KeyTarget,
)
from tests.support.graph_standin import StandIn, make_certificate, start_graph_standin

APP_ID = "0d9c5a1e-7f3b-4a2c-8e6d-1b2c3d4e5f60"
OURS, FOREIGN = 3, 4  # certificates we add or remove; certificates only someone else puts on either collection


@pytest.fixture(scope="module")
def pool() -> list[bytes]:
    return [make_certificate(f"CN=key {i}")[0] for i in range(OURS + FOREIGN)]


def thumb(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


def info(der: bytes, key_id: str | None = None) -> KeyCredentialInfo:
    return KeyCredentialInfo(key_id=key_id or str(uuid.uuid4()), type="AsymmetricX509Cert", usage="Verify",
                             thumbprint=thumb(der), key_b64=base64.b64encode(der).decode())


def mode_of(name: str, app: bool) -> HybridMode:
    application = HybridApplication(app_id=APP_ID, found=True, id="app-object") if app else None
    return HybridMode(name, "", "", app_ids=(APP_ID,) if app else (), application=application)  # type: ignore[arg-type]


collections = st.fixed_dictionaries({
    "shared": st.lists(st.integers(OURS, OURS + FOREIGN - 1), unique=True),
    "app": st.lists(st.integers(OURS, OURS + FOREIGN - 1), unique=True),
})
operations = st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.lists(st.integers(0, OURS - 1), min_size=1,
                                                                             max_size=OURS, unique=True)),
                      min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=collections, ops=operations,
       mode=st.sampled_from(["shared_principal", "dedicated_app", "moving", "cleanup_run"]), app=st.booleans(),
       policy=st.sampled_from(["keep", "leave_to_cleanup"]))
def test_planning_never_drops_a_key_it_did_not_target(pool: list[bytes], start: dict[str, list[int]],
                                                      ops: list[tuple[str, list[int]]], mode: str, app: bool,
                                                      policy: str) -> None:
    held: dict[KeyTarget, list[KeyCredentialInfo]] = {
        SHARED_PRINCIPAL: [info(pool[i]) for i in start["shared"]],
        KeyTarget("application", APP_ID): [info(pool[i]) for i in start["app"]],
    }
    foreign = {t: {k.key_id: k for k in keys} for t, keys in held.items()}
    hybrid = mode_of(mode, app)
    for kind, picked in ops:
        thumbs = [thumb(pool[i]) for i in picked]
        if kind == "add":
            targets = key_targets(hybrid, policy, thumbs, organisation=thumbs[:1])
        else:
            targets = [(SHARED_PRINCIPAL, tuple(thumbs))] + ([(KeyTarget("application", APP_ID), tuple(thumbs))] if app else [])
        for target, chosen in targets:
            assert set(chosen) <= set(thumbs)  # never a key the operation was not about
            existing = held[target]
            if kind == "add":
                body = plan_add(existing, [certificate_facts(pool[i]) for i in picked if thumb(pool[i]) in chosen])
            else:
                body = plan_remove_many(existing, list(chosen))
            if body is not None:  # the PATCH replaces the collection with the body
                held[target] = [info(k.key_der, k.key_id) for k in body]
    for target, keys in held.items():
        now = {k.key_id: k for k in keys}
        for key_id, key in foreign[target].items():
            assert key_id in now and now[key_id].thumbprint == key.thumbprint, (target, key.thumbprint)


# ------------------------------------------------------------------------------------------ the real client


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with start_graph_standin() as g:
        yield g


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=collections, ops=operations)
def test_the_client_never_drops_an_untargeted_key_on_either_collection(
        standin: StandIn, pool: list[bytes], start: dict[str, list[int]], ops: list[tuple[str, list[int]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pushproxy.secrets import OWN, tenant_scope
    from pushproxy.tenant.client import TenantClient

    for name, value in standin.env().items():
        monkeypatch.setenv(name, value)
    state: dict[str, Any] = standin.state()
    tenant = state["tenants"][standin.tenant_id]
    sp = next(s for s in tenant["servicePrincipals"] if s["appId"] == EXCHANGE_ONLINE_APP_ID)

    def keys(indexes: list[int]) -> list[dict[str, Any]]:
        return [{"keyId": str(uuid.uuid4()), "type": "AsymmetricX509Cert", "usage": "Verify",
                 "key": base64.b64encode(pool[i]).decode()} for i in indexes]

    sp["keyCredentials"] = keys(start["shared"])
    tenant["applications"] = [{"id": str(uuid.uuid4()), "appId": APP_ID, "keyCredentials": keys(start["app"])}]
    standin.put_state(state)
    targets = (SHARED_PRINCIPAL, KeyTarget("application", APP_ID))

    def held() -> dict[KeyTarget, dict[str, str]]:
        t = standin.state()["tenants"][standin.tenant_id]
        shared = next(s for s in t["servicePrincipals"] if s["appId"] == EXCHANGE_ONLINE_APP_ID)
        return {SHARED_PRINCIPAL: {k["keyId"]: k["key"] for k in shared["keyCredentials"]},
                targets[1]: {k["keyId"]: k["key"] for k in t["applications"][0]["keyCredentials"]}}

    before = held()

    async def go() -> None:
        spec = GraphCredentialSpec.from_dict(standin.credential_spec("secret"))
        async with TenantClient(spec, "fabrikam.com", consistency_wait_s=0.2, consistency_delay_s=0.05) as client:
            for kind, picked in ops:
                for target in targets:
                    if kind == "add":
                        await client.add_certificate_keys([pool[i] for i in picked], target)
                    else:
                        await client.remove_keys([thumb(pool[i]) for i in picked], target)

    with tenant_scope(OWN):
        asyncio.run(go())
    after = held()
    for target in targets:
        assert before[target].items() <= after[target].items(), target  # every foreign key, exactly as it was
