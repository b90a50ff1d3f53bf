"""Exchange stand-in figures: cmdlets per second on one pool, NTLM handshake time, pool open, bulk state load.

Run: `python benchmarks/bench_exchange_standin.py` (from the repo root, in the venv). Prints figures; asserts nothing.
"""

from __future__ import annotations

import base64
import statistics
import sys
import time
from pathlib import Path

import requests
import spnego
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.exchange_standin import StandIn, start_exchange_standin  # noqa: E402


def cmdlets_per_second(standin: StandIn, auth: str, cmdlet: str = "Get-ExchangeServer", count: int = 150) -> float:
    with RunspacePool(WSMan(**standin.wsman_kwargs(auth)), configuration_name="Microsoft.Exchange") as pool:
        PowerShell(pool).add_cmdlet(cmdlet).invoke()  # warm the templates
        started = time.perf_counter()
        for _ in range(count):
            ps = PowerShell(pool)
            ps.add_cmdlet(cmdlet)
            assert ps.invoke()
        return count / (time.perf_counter() - started)


def ntlm_handshake_ms(standin: StandIn, rounds: int = 30) -> list[float]:
    """The two HTTP round trips of NTLM (negotiate -> challenge, authenticate -> 200) on a fresh connection."""
    times = []
    for _ in range(rounds):
        with requests.Session() as session:
            ctx = spnego.client(
                standin.user, standin.password, protocol="ntlm", options=spnego.NegotiateOptions.wrapping_winrm
            )
            started = time.perf_counter()
            token = ctx.step() or b""
            r = session.post(
                standin.url, data=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()}
            )
            challenge = base64.b64decode(r.headers["WWW-Authenticate"].split(" ", 1)[1])
            token = ctx.step(challenge) or b""
            r = session.post(
                standin.url, data=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()}
            )
            times.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200
    return times


def pool_open_ms(standin: StandIn, auth: str, rounds: int = 20) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        pool = RunspacePool(WSMan(**standin.wsman_kwargs(auth)), configuration_name="Microsoft.Exchange")
        pool.open()
        times.append((time.perf_counter() - started) * 1000)
        pool.close()
    return times


def bulk_state_seconds(standin: StandIn, orgs: int) -> float:
    started = time.perf_counter()
    standin.put_state({"organizations": {f"tenant{i:04d}.example": {} for i in range(orgs)}})
    return time.perf_counter() - started


def main() -> None:
    with start_exchange_standin() as http, start_exchange_standin(tls=True) as https:
        for name, standin, auth in (
            ("HTTP+NTLM (sealed)", http, "ntlm"),
            ("HTTPS+Basic", https, "basic"),
            ("HTTPS+NTLM", https, "ntlm"),
        ):
            rate = cmdlets_per_second(standin, auth)
            light = cmdlets_per_second(standin, auth, "Get-PushNotificationApp")
            opens = pool_open_ms(standin, auth)
            print(
                f"{name:20s} on one pool: Get-ExchangeServer (2 x 109 KB objects) {rate:6.1f}/s, "
                f"Get-PushNotificationApp (1 x 10 KB) {light:6.1f}/s; "
                f"pool open (auth + Create + open) median {statistics.median(opens):5.1f} ms"
            )
        handshakes = ntlm_handshake_ms(http)
        print(
            f"NTLM handshake (2 round trips, fresh TCP connection): median {statistics.median(handshakes):.1f} ms, "
            f"p90 {sorted(handshakes)[int(len(handshakes) * 0.9)]:.1f} ms"
        )
        for orgs in (100, 500):
            print(
                f"PUT /_emulator/state with {orgs} organisations (each a generated 2048-bit Auth certificate): "
                f"{bulk_state_seconds(http, orgs):.2f} s"
            )


if __name__ == "__main__":
    main()
