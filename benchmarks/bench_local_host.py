"""Local Durable host: throughput, host overhead per history event, replay cost against history length.

Run: .venv/bin/python benchmarks/bench_local_host.py [--profile]
Activities are trivial, so the figures are the host's (and the SDK's replay) cost, not the work's.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pushproxy.local import LocalHost  # noqa: E402
from pushproxy.local import episode as episode_module  # noqa: E402
from pushproxy.local.app_index import index_app  # noqa: E402

bench = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@bench.activity_trigger(input_name="x")
def noop(x: int) -> int:
    return x


@bench.orchestration_trigger(context_name="context", input_type=int)
def sequence(context: df.DurableOrchestrationContext):
    total = 0
    for i in range(context.get_input()):
        total += yield context.call_activity(noop, i)
    return total


@bench.orchestration_trigger(context_name="context", input_type=int)
def fan_out(context: df.DurableOrchestrationContext):
    results = yield context.task_all([context.call_activity(noop, i) for i in range(context.get_input())])
    return sum(results)


@bench.orchestration_trigger(context_name="context", input_type=int)
def events(context: df.DurableOrchestrationContext):
    total = 0
    for _ in range(context.get_input()):
        total += yield context.wait_for_external_event("tick", expected_type=int)
    return total


class SdkTimer:
    """Wraps the SDK's Orchestrator so we can subtract the SDK's replay time from the host's."""

    seconds = 0.0

    def __init__(self, fn: Any) -> None:
        self.inner = _Orchestrator(fn)

    def handle(self, ctx: Any) -> str:
        start = time.perf_counter()
        try:
            return str(self.inner.handle(ctx))
        finally:
            SdkTimer.seconds += time.perf_counter() - start


_Orchestrator = episode_module.Orchestrator
episode_module.Orchestrator = SdkTimer  # type: ignore[misc,assignment]


def fresh_host(tmp: Path, name: str) -> LocalHost:
    return LocalHost(bench, database=tmp / f"{name}.sqlite", max_activities=16)


def run_case(tmp: Path, orchestrator: str, n: int) -> dict[str, Any]:
    host = fresh_host(tmp, f"{orchestrator}-{n}")
    SdkTimer.seconds = 0.0
    start = time.perf_counter()
    iid = host.start_new(orchestrator, None, n)
    episodes = host.run_until_idle()
    elapsed = time.perf_counter() - start
    status = host.get_status(iid)
    assert status.runtime_status.value == "Completed", status.output
    events_total = len(status.history)
    host.close()
    return {
        "case": f"{orchestrator} x{n}",
        "seconds": elapsed,
        "episodes": episodes,
        "history_events": events_total,
        "activities_per_s": n / elapsed,
        "episodes_per_s": episodes / elapsed,
        "sdk_s": SdkTimer.seconds,
        "host_ms_per_event": (elapsed - SdkTimer.seconds) * 1000 / events_total,
        "total_ms_per_event": elapsed * 1000 / events_total,
    }


def run_events(tmp: Path, n: int) -> dict[str, Any]:
    host = fresh_host(tmp, f"events-{n}")
    SdkTimer.seconds = 0.0
    iid = host.start_new("events", None, n)
    host.run_until_idle()
    start = time.perf_counter()
    for i in range(n):
        host.raise_event(iid, "tick", i)  # one at a time: each event costs its own episode
        host.run_until_idle()
    elapsed = time.perf_counter() - start
    status = host.get_status(iid)
    assert status.output == sum(range(n)), status.output
    events_total = len(status.history)
    host.close()
    return {
        "case": f"external events x{n} (one episode each)",
        "seconds": elapsed,
        "episodes": n,
        "history_events": events_total,
        "events_per_s": n / elapsed,
        "sdk_s": SdkTimer.seconds,
        "host_ms_per_event": (elapsed - SdkTimer.seconds) * 1000 / events_total,
    }


def run_event_burst(tmp: Path, n: int) -> dict[str, Any]:
    """Events raised faster than the orchestrator runs: the host delivers them in one episode."""
    host = fresh_host(tmp, f"burst-{n}")
    iid = host.start_new("events", None, n)
    host.run_until_idle()
    start = time.perf_counter()
    for i in range(n):
        host.raise_event(iid, "tick", i)
    episodes = host.run_until_idle()
    elapsed = time.perf_counter() - start
    assert host.get_status(iid).output == sum(range(n))
    host.close()
    return {
        "case": f"external events x{n} (raised in a burst)",
        "seconds": elapsed,
        "episodes": episodes,
        "events_per_s": n / elapsed,
    }


def replay_table(tmp: Path) -> list[dict[str, Any]]:
    """Time one more episode of an instance whose history already holds about N events."""
    rows = []
    for target in (10, 100, 1000):
        host = fresh_host(tmp, f"replay-{target}")
        # sequence x k makes 4k + 6 events (OS, ES, TaskScheduled, OC, then OS, TaskCompleted, TaskScheduled, OC...)
        k = max(1, (target - 4) // 4)
        iid = host.start_new("events", None, 10**6)
        for i in range(k):
            host.raise_event(iid, "tick", i)
        host.run_until_idle()
        # Grow the history with batches of events until it reaches the target size.
        while len(host.get_status(iid).history) < target:
            host.raise_event(iid, "tick", 1)
            host.run_until_idle()
        size = len(host.get_status(iid).history)
        samples = []
        sdk = []
        for _ in range(5):
            host.raise_event(iid, "tick", 1)
            SdkTimer.seconds = 0.0
            start = time.perf_counter()
            host.run_until_idle()
            samples.append(time.perf_counter() - start)
            sdk.append(SdkTimer.seconds)
        best = min(range(len(samples)), key=samples.__getitem__)
        rows.append(
            {
                "history_events": size,
                "episode_ms": samples[best] * 1000,
                "sdk_replay_ms": sdk[best] * 1000,
                "host_ms": (samples[best] - sdk[best]) * 1000,
                "host_us_per_event": (samples[best] - sdk[best]) * 1e6 / size,
            }
        )
        host.close()
    return rows


def idle_cost(tmp: Path) -> float:
    """Microseconds per run_until_idle() call when an instance waits for an event: the poll loop's price."""
    host = fresh_host(tmp, "idle")
    host.start_new("events", None, 1)
    host.run_until_idle()
    start = time.perf_counter()
    for _ in range(1000):
        host.run_until_idle()
    cost = (time.perf_counter() - start) * 1000
    host.close()
    return cost


BUCKETS = (
    ("SDK replay (azure.durable_functions, azure.functions)", ("azure/durable_functions", "azure/functions")),
    ("timestamp parsing (dateutil, strptime)", ("dateutil", "_strptime")),
    ("SQLite", ("sqlite3",)),
    ("JSON encode/decode", ("json/",)),
    ("thread hand-off (pool, futures, locks)", ("concurrent/futures", "threading", "queue", "_thread")),
    ("host code (pushproxy/local)", ("pushproxy/local",)),
)


def profile_case(tmp: Path, orchestrator: str, n: int) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.enable()
    run_case(tmp, orchestrator, n)
    profiler.disable()
    return pstats.Stats(profiler, stream=io.StringIO())


def print_buckets(stats: pstats.Stats) -> None:
    totals = dict.fromkeys([b[0] for b in BUCKETS] + ["other (Python builtins, generators)"], 0.0)
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        label = next((b[0] for b in BUCKETS if any(k in where for k in b[1])), "other (Python builtins, generators)")
        totals[label] += row[2]
    grand = sum(totals.values()) or 1.0
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<58}{seconds * 1000:>9.1f} ms {100 * seconds / grand:>5.1f}%")


AZURE = {"sequence": 5.0, "fan_out": 100.0, "events": 50.0}
TARGET = {"sequence": 200.0, "fan_out": 1000.0, "events": 500.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the 1,000-activity fan-out")
    args = parser.parse_args()
    index_app(bench)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        run_case(tmp, "sequence", 10)  # warm-up: imports, first SQLite files
        seq = run_case(tmp, "sequence", 100)
        fan = run_case(tmp, "fan_out", 1000)
        ev = run_events(tmp, 200)
        burst = run_event_burst(tmp, 200)
        print("== throughput (trivial activities, this machine)")
        for row in (seq, fan, ev, burst):
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
        print()
        print("== against the Azure Storage provider's documented per-instance maximum, and our target")
        print(f"{'workload':<28}{'ours/s':>10}{'Azure/s':>10}{'ratio':>8}{'target/s':>10}{'met':>6}")
        for label, ours, key in (
            ("sequential activities", seq["activities_per_s"], "sequence"),
            ("fan-out activities", fan["activities_per_s"], "fan_out"),
            ("external events, one by one", ev["events_per_s"], "events"),
            ("external events, burst", burst["events_per_s"], "events"),
        ):
            print(
                f"{label:<28}{ours:>10.0f}{AZURE[key]:>10.0f}{ours / AZURE[key]:>7.0f}x{TARGET[key]:>10.0f}"
                f"{'yes' if ours >= TARGET[key] else 'NO':>6}"
            )
        print()
        print("== replay cost against history length (one episode, best of 5)")
        print(f"{'events':>8}{'episode ms':>12}{'SDK replay ms':>15}{'host ms':>10}{'host us/event':>15}")
        for row in replay_table(tmp):
            print(
                f"{row['history_events']:>8}{row['episode_ms']:>12.2f}{row['sdk_replay_ms']:>15.2f}"
                f"{row['host_ms']:>10.2f}{row['host_us_per_event']:>15.1f}"
            )
        print()
        print(f"== run_until_idle() with nothing due: {idle_cost(tmp):.0f} us per call")
        if args.profile:
            for orchestrator, n in (("sequence", 100), ("fan_out", 1000)):
                print()
                print(f"== where the time goes: {orchestrator} x{n} (cProfile, own time by area)")
                print_buckets(profile_case(tmp, orchestrator, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
