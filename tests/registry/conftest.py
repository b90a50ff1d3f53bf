"""Registry fixtures: the same contract runs on SQLite and on Azurite (Table storage emulator, from npm)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushproxy.registry import Registry, SqliteRegistry
from pushproxy.registry.tables import TableRegistry

REPO = Path(__file__).resolve().parents[2]
# Azurite's well-known development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _azurite_binary() -> str | None:
    """azurite-table (the table service alone), else the full azurite (then blob and queue get free ports too)."""
    for name in ("azurite-table", "azurite"):
        local = REPO / "node_modules" / ".bin" / name
        if local.exists():
            return str(local)
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    # Azurite with --tablePort 0 listens on a random port but prints 0, so pick one ourselves.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_azurite(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    for _attempt in range(5):  # another process may grab the port between our probe and Azurite's bind
        port = _free_port()
        command = [binary, "--disableTelemetry", "--inMemoryPersistence", "--silent", "--tableHost", "127.0.0.1",
                   "--tablePort", str(port)]
        if not binary.endswith("azurite-table"):
            # The full azurite also serves blobs and queues, on default ports that collide between test workers.
            command += ["--blobHost", "127.0.0.1", "--blobPort", str(_free_port()),
                        "--queueHost", "127.0.0.1", "--queuePort", str(_free_port())]
        proc = subprocess.Popen(
            command,
            # Run it in a private directory: it may still write a debug or lock file in its working directory.
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return proc, port
            except OSError:
                time.sleep(0.1)
        proc.kill()
        proc.wait()
    raise RuntimeError("Azurite did not start")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string to a fresh in-memory Azurite table service on a loopback port."""
    binary = _azurite_binary()
    if binary is None:
        pytest.skip("Azurite is not installed: run `make node` (npm package azurite)")
    proc, port = _start_azurite(binary, tmp_path_factory.mktemp("azurite"))
    try:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["sqlite", pytest.param("azure_tables", marks=pytest.mark.azurite)])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A fresh, empty registry on each backend."""
    if request.param == "sqlite":
        reg: Registry = SqliteRegistry(tmp_path / "registry.sqlite")
    else:
        connection_string = request.getfixturevalue("azurite")
        reg = TableRegistry.from_connection_string(connection_string, f"t{uuid.uuid4().hex}")
    with reg:
        yield reg
