"""A host process for the rotation crash test: rotate the spec at argv[2] on the database at argv[1], jumping the
clock over the timers (and the Exchange stand-in's with it, argv[3] is its origin, argv[4] its CA), and SIGKILL
itself once the activity argv[5] is running (after argv[6] seconds): the parent resumes the rotation."""

from __future__ import annotations

import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from pushproxy import rotation_runner
from pushproxy.clock import JumpClock
from pushproxy.onboarding import runner
from pushproxy.spec import TenantSpec


def main() -> int:
    database, spec_path, origin, ca, kill_at, after = (
        Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    spec = TenantSpec.from_json(spec_path.read_text(encoding="utf-8"))
    context = ssl.create_default_context(cafile=ca)

    def admin(method: str, body: object = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(origin + "/_emulator/clock", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=context) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    clock = JumpClock(datetime.fromisoformat(admin("GET")["now"]))
    clock.on_jump.append(lambda at: admin("PUT", {"now": at.isoformat()}))
    host = runner.open_host(database, clock=clock)
    instance_id, _ = rotation_runner.start_or_resume(host, spec, requested_by="host-process")

    def killer() -> None:
        while True:
            status = host.get_status(instance_id, show_history=False)
            custom = status.custom_status if status else None
            if isinstance(custom, dict) and custom.get("current") == kill_at:
                time.sleep(after)
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.01)

    threading.Thread(target=killer, daemon=True).start()
    rotation_runner.run(host, instance_id, timeout=120,
                        jump=lambda when: clock.jump_to(datetime.fromisoformat(when) + timedelta(seconds=1)))
    return 3  # it was not killed: the parent fails the test


if __name__ == "__main__":
    raise SystemExit(main())
