"""How long `import function_app` (what the Functions worker does at start) and `import pushproxy.plan` (the pure
core) take, each in a fresh interpreter, and which heavy client libraries they drag in.

    .venv/bin/python benchmarks/bench_import.py [--runs 7]

Prints the median, min and max wall time of the import over the runs (not a test: no threshold).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pypsrp", "requests", "spnego", "msgraph", "azure.identity", "kiota_abstractions", "cryptography")
PROBE = """
import json, sys, time
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
heavy = sorted(h for h in {heavy!r} if h in sys.modules)
print(json.dumps({{"s": elapsed, "heavy": heavy, "modules": len(sys.modules)}}))
"""


def measure(module: str, runs: int) -> dict[str, object]:
    times: list[float] = []
    last: dict[str, object] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout
        last = json.loads(out.strip().splitlines()[-1])
        times.append(float(last["s"]))  # type: ignore[arg-type]
    return {"median_ms": statistics.median(times) * 1000, "min_ms": min(times) * 1000,
            "max_ms": max(times) * 1000, "heavy": last["heavy"], "modules": last["modules"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for module in ("function_app", "pushproxy.plan"):
        r = measure(module, args.runs)
        print(f"import {module:<15} median {r['median_ms']:7.1f} ms  (min {r['min_ms']:.1f}, max {r['max_ms']:.1f}, "
              f"{args.runs} runs)  modules {r['modules']}  heavy libraries loaded: {', '.join(r['heavy']) or 'none'}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
