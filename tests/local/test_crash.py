"""SIGKILL the host process mid-activity and mid-timer; a new host on the same file finishes the work.

No recorded result is lost, no completed activity runs again, and only the activity in flight runs twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pushproxy.local import LocalHost
from tests.local.apps.sample_app import app
from tests.local.serve_process import REPO, child_env


def runner(db: Path, runlog: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.local.host_runner", str(db), *args],
        cwd=REPO,
        env=child_env(SAMPLE_APP_RUNLOG=str(runlog)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs(runlog: Path) -> Counter[str]:
    return Counter(runlog.read_text().splitlines()) if runlog.exists() else Counter()


def wait_until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the host process")
        time.sleep(0.02)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)  # reaped, so its pid is gone and a new host may take over its lease


def finish(proc: subprocess.Popen[str]) -> dict:  # type: ignore[type-arg]
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def test_killed_during_an_activity(tmp_path: Path) -> None:
    db, runlog, block = tmp_path / "local.sqlite", tmp_path / "runs.log", tmp_path / "block"
    block.touch()
    job = {"key": "k", "block": str(block)}
    first = runner(db, runlog, "crashy", "crash-1", json.dumps(job))
    wait_until(lambda: runs(runlog)["slow-start:k"] == 1)
    kill(first)
    block.unlink()

    result = finish(runner(db, runlog))
    assert result == {"status": "Completed", "output": [2, "unblocked k", 4]}
    counts = runs(runlog)
    assert counts["double:1"] == 1  # completed before the kill: never again
    assert counts["slow-start:k"] == 2  # in flight at the kill: at least once, so twice here
    assert counts["slow:k"] == 1
    assert counts["double:2"] == 1


def test_killed_during_a_timer_wait(tmp_path: Path) -> None:
    db, runlog = tmp_path / "local.sqlite", tmp_path / "runs.log"
    first = runner(db, runlog, "sleeper", "crash-2", "1.5")
    reader = LocalHost(app, database=db)

    def timer_recorded() -> bool:
        status = reader.get_status("crash-2")
        return bool(status) and any(e["EventType"] == "TimerCreated" for e in status.history)

    wait_until(timer_recorded)
    kill(first)
    assert runs(runlog)["hello:after timer"] == 0

    result = finish(runner(db, runlog))
    assert result == {"status": "Completed", "output": "Hello after timer!"}
    assert runs(runlog)["hello:after timer"] == 1
    events = [e["EventType"] for e in reader.get_status("crash-2").history]
    assert events.count("TimerCreated") == 1 and events.count("TimerFired") == 1
    reader.close()


def test_an_event_raised_by_another_process_reaches_a_waiting_host(tmp_path: Path) -> None:
    db = tmp_path / "local.sqlite"
    waiting = LocalHost(app, database=db)
    iid = waiting.start_new("approval", "cross-process")
    waiting.wait_for(iid, until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval", timeout=30)
    approve = (
        "from pushproxy.local import LocalHost; from tests.local.apps.sample_app import app; "
        f"LocalHost(app, database={str(db)!r}).raise_event('cross-process', 'Approval', {{'by': 'bob'}})"
    )
    subprocess.run([sys.executable, "-c", approve], cwd=REPO, env=child_env(), check=True, timeout=60)
    status = waiting.wait_for(iid, timeout=30, poll_interval=0.05)
    assert status.output == {"decision": {"by": "bob"}}
    waiting.close()
