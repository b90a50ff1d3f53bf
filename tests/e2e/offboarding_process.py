"""A host process for the crash test: offboard the spec at argv[2] on the database at argv[1], until done."""

from __future__ import annotations

import sys
from pathlib import Path

from pushproxy import offboarding_runner
from pushproxy.onboarding import runner
from pushproxy.spec import TenantSpec


def main() -> int:
    database, spec_path = Path(sys.argv[1]), Path(sys.argv[2])
    spec = TenantSpec.from_json(spec_path.read_text(encoding="utf-8"))
    host = runner.open_host(database)
    instance_id, _ = offboarding_runner.start_or_resume(host, spec, "offboarding", requested_by="host-process")
    runner.drive(host, instance_id, timeout=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
