"""Kerberos against NTLM: ticket acquisition, HTTP handshake and session-open times, against the stand-in and a
throwaway MIT KDC (k5test), all on loopback.

    python benchmarks/bench_kerberos.py [--rounds 10]

- ticket: kerberos.acquire (AS exchange with the KDC, password, pre-authentication) into a MEMORY cache.
- handshake: pypsrp's HTTPNegotiateAuth on an empty POST to /PowerShell until the 200, on a fresh connection
  (Kerberos: TGS exchange with the KDC plus one round trip; NTLM: two round trips).
- session open: ExchangeSession.open() (ticket for Kerberos, handshake, WSMan Create, PSRP handshake), then close.
Medians over the rounds; wall time with time.perf_counter.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from pypsrp.negotiate import HTTPNegotiateAuth  # noqa: E402

from pushproxy.exchange import kerberos  # noqa: E402
from pushproxy.exchange.session import ExchangeSession  # noqa: E402
from tests.exchange.standin import endpoint_for  # noqa: E402
from tests.support import kerberos_realm as kr  # noqa: E402
from tests.support.exchange_standin import StandIn, start_exchange_standin  # noqa: E402


def median_ms(rounds: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def handshake(standin: StandIn, username: object, password: str | None, provider: str) -> None:
    with requests.Session() as session:
        session.auth = HTTPNegotiateAuth(username, password, auth_provider=provider, service="HTTP")  # type: ignore[arg-type]
        verify = standin.cert_path if standin.tls else True
        response = session.post(standin.url, data=b"", verify=verify, timeout=30)
        assert response.status_code == 200, response.status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if kr.missing():
        print(f"skipped: {kr.missing()}")
        return 0
    with tempfile.TemporaryDirectory() as folder, kr.kerberos_realm(Path(folder)) as realm:
        os.environ.update(realm.env)
        for tls in (False, True):
            scheme = "https" if tls else "http"
            with start_exchange_standin("--keytab", str(realm.http_keytab), tls=tls, user=realm.user,
                                        password=realm.user_password, enable_auth="windows", env=realm.env,
                                        url_host=kr.SERVICE_HOST) as standin:
                ca = {"mode": "ca_bundle", "ca_bundle": standin.cert_path} if tls else None
                krb_endpoint = endpoint_for(standin, auth="kerberos", tls=ca, username=realm.user)
                ntlm_endpoint = endpoint_for(standin, auth="ntlm", tls=ca, username=realm.user)
                ticket_ms = median_ms(args.rounds, lambda: kerberos.acquire(realm.user, password=realm.user_password).destroy())
                ticket = kerberos.acquire(realm.user, password=realm.user_password)
                credential = ticket.spnego_credential()
                krb_hs = median_ms(args.rounds, lambda: handshake(standin, credential, None, "kerberos"))  # noqa: B023
                ntlm_hs = median_ms(args.rounds, lambda: handshake(standin, realm.user, realm.user_password, "ntlm"))
                ticket.destroy()

                def open_close(endpoint: object) -> None:
                    with ExchangeSession(endpoint, realm.user_password):  # type: ignore[arg-type]
                        pass

                krb_open = median_ms(args.rounds, lambda: open_close(krb_endpoint))  # noqa: B023 - called at once
                ntlm_open = median_ms(args.rounds, lambda: open_close(ntlm_endpoint))  # noqa: B023
                print(f"{scheme}: Kerberos ticket (AS exchange) {ticket_ms:.1f} ms")
                print(f"{scheme}: handshake  Kerberos {krb_hs:.1f} ms   NTLM {ntlm_hs:.1f} ms")
                print(f"{scheme}: session open+close  Kerberos {krb_open:.1f} ms (ticket included)   NTLM {ntlm_open:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
