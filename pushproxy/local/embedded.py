"""The Durable management API of one LocalHost, on a loopback port of its own, for the durableClient bindings of
its activities when no `pushproxy serve` runs (the CLI's hosts). Started on first use, in its own thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class EmbeddedManagementServer:
    """Serves `LocalFunctionsServer`'s management and rpc routes for `host` on 127.0.0.1, an ephemeral port."""

    def __init__(self, host: Any, task_hub: str) -> None:
        self.host = host
        self.task_hub = task_hub
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    def start(self) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # reported to start()'s caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="durable-management", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.base_url

    async def _start(self) -> None:
        from aiohttp import web

        from pushproxy.local.http_api import LocalFunctionsServer

        server = LocalFunctionsServer(self.host, self.task_hub)
        self._runner = web.AppRunner(server.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = server.base_url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        # Idempotent: a host may be closed twice (a command's own close, then its caller's).
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
