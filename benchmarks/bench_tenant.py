"""Tenant side: requests and time per onboarding, per credential mode, against the Graph stand-in (HTTPS).

An onboarding runs three tenant activities, each with its own TenantClient (as the Function App does):
discover_tenant, discover_tenant again right before applying (the state must still match what was approved),
and upload_tenant_key. Prints the requests each makes (token, managed identity, Graph) and the wall time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pushproxy.tenant.client import TenantClient, discover_tenant  # noqa: E402
from pushproxy.tenant.models import GraphCredentialSpec  # noqa: E402
from tests.support.graph_standin import make_certificate, start_graph_standin  # noqa: E402

ROUNDS = 10


def kind(entry: dict[str, str]) -> str:
    if entry["endpoint"] == "/msi/token":
        return "managed identity"
    if entry["endpoint"].endswith("/oauth2/v2.0/token"):
        return "token"
    return "graph " + entry["operation"].split(" ")[0]


async def onboarding(spec: GraphCredentialSpec, der: bytes) -> None:
    for _ in range(2):
        async with TenantClient(spec, "fabrikam.com") as c:
            await discover_tenant(c, "fabrikam.com")
    async with TenantClient(spec, "fabrikam.com") as c:
        await c.add_certificate_key(der)


def main() -> int:
    from pushproxy.secrets import OWN, tenant_scope

    # The client library itself, not a tenant's activity: references resolve unprefixed (the operator's own).
    with tenant_scope(OWN):
        return _main()


def _main() -> int:
    certs = [make_certificate(f"CN=bench {i}")[0] for i in range(ROUNDS)]
    with start_graph_standin() as g:
        os.environ.update(g.env())
        state = g.state()
        _, pem_c = make_certificate("CN=bench client")
        state["applications"][g.client_id]["certificates"] = [pem_c[pem_c.index("-----BEGIN CERTIFICATE") :]]
        g.put_state(state)
        initial = g.state()
        os.environ["BENCH_GRAPH_CERT"] = pem_c
        print(f"{'mode':<18} {'requests per onboarding':<64} {'median s':>9} {'max s':>7}")
        for mode in ("secret", "certificate", "workload_identity"):
            extra = {"certificate_ref": "env:BENCH_GRAPH_CERT"} if mode == "certificate" else {}
            spec = GraphCredentialSpec.from_dict(g.credential_spec(mode, **extra))
            times = []
            counts: Counter[str] = Counter()
            for i in range(ROUNDS):
                g.put_state(initial)
                g.clear_journal()
                started = time.perf_counter()
                asyncio.run(onboarding(spec, certs[i]))
                times.append(time.perf_counter() - started)
                counts = Counter(kind(e) for e in g.journal())
            text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"{mode:<18} {text:<64} {statistics.median(times):>9.3f} {max(times):>7.3f}")
        # One throttled PATCH (Retry-After 1 s): the retry handler waits and succeeds.
        spec = GraphCredentialSpec.from_dict(g.credential_spec("secret"))
        g.put_state(initial)
        g.faults(
            [
                {
                    "when": {"operation": "PATCH /v1.0/servicePrincipals"},
                    "fail": {"kind": "http", "status": 429, "retry_after_s": 1},
                    "times": 1,
                }
            ]
        )
        started = time.perf_counter()
        asyncio.run(onboarding(spec, certs[0]))
        print(f"onboarding with one 429 (Retry-After 1 s) on the PATCH: {time.perf_counter() - started:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
