"""A throwaway MIT Kerberos realm for a test module (k5test drives krb5kdc and kadmin.local from Debian's packages).

    with kerberos_realm(tmp_path) as realm:
        realm.env            # KRB5_CONFIG & co. for the product (this process) and the stand-in (a subprocess)
        realm.http_keytab    # HTTP/localhost, for the stand-in's --keytab
        realm.user, realm.user_password

The realm is FABRIKAM.COM, the stand-in's default organisation in capitals, as Active Directory names realms.
Pre-authentication is required, as Active Directory requires it, so a wrong password is "Preauthentication failed".
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REALM = "FABRIKAM.COM"
SERVICE_HOST = "localhost"  # pypsrp builds the SPN from the URL's host: HTTP/localhost


def missing() -> str | None:
    """Why a realm can't be made here, or None. `make test` installs all of it (as root)."""
    for tool in ("krb5kdc", "kdb5_util", "kadmin.local"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed (apt-get install krb5-kdc krb5-admin-server krb5-user)"
    for module in ("k5test", "gssapi", "krb5"):
        try:
            __import__(module)
        except ImportError:
            return f"the {module} package is not installed (pip install -r requirements-kerberos.txt)"
    return None


@dataclass
class Realm:
    k5: Any
    env: dict[str, str]
    http_keytab: Path
    user: str
    user_password: str
    service_keytab: Path  # svc-push's own keytab, for keytab_ref
    service_user: str

    def addprinc(self, name: str, password: str | None = None, *options: str) -> None:
        self.k5.run_kadminl(["addprinc", *options, *(["-pw", password] if password else ["-randkey"]), name])

    def stop(self) -> None:
        self.k5.stop()


def _free_port_base() -> int:
    # k5test uses portbase..portbase+9 (KDC on +0, TCP and UDP): find ten free ones, away from xdist neighbours.
    for _ in range(200):
        base = random.randrange(20000, 60000, 10)
        try:
            for port in range(base, base + 10):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as probe:
                        probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no ten free ports in a row for the test KDC")


@contextmanager
def kerberos_realm(workdir: Path) -> Iterator[Realm]:
    """Start a KDC for FABRIKAM.COM with the principals the Kerberos tests use; stop it afterwards."""
    import k5test

    k5 = k5test.K5Realm(
        realm=REALM, portbase=_free_port_base(), create_user=False, create_host=False, get_creds=False,
        krb5_conf={
            "libdefaults": {"dns_canonicalize_hostname": "false", "rdns": "false", "udp_preference_limit": "0"},
            # The KDC by address: the machine's FQDN may not resolve the way k5test assumes.
            "realms": {"$realm": {"kdc": "127.0.0.1:$port0", "admin_server": "127.0.0.1:$port1"}},
        },
    )
    try:
        realm = Realm(k5, dict(k5.env), workdir / "http.keytab", f"admin@{REALM}", "Kerb-" + secrets.token_urlsafe(12),
                      workdir / "svc-push.keytab", f"svc-push@{REALM}")
        realm.addprinc(realm.user, realm.user_password, "+requires_preauth")
        realm.addprinc(f"HTTP/{SERVICE_HOST}@{REALM}")
        k5.extract_keytab(f"HTTP/{SERVICE_HOST}@{REALM}", str(realm.http_keytab))
        realm.addprinc(realm.service_user, None, "+requires_preauth")
        k5.extract_keytab(realm.service_user, str(realm.service_keytab))
        # The user's own ticket cache: the product must never write to it.
        realm.env["KRB5CCNAME"] = f"FILE:{workdir / 'users-own-ccache'}"
        realm.env.pop("KRB5_CLIENT_KTNAME", None)
        os.chmod(realm.http_keytab, 0o600)
        yield realm
    finally:
        k5.stop()
