"""A host process for the crash tests: `python -m tests.local.host_runner DB [NAME ID INPUT_JSON]`.

With NAME it starts that instance first; then it runs the host until the instance ends and prints its status.
"""

from __future__ import annotations

import json
import sys

from pushproxy.local import LocalHost
from tests.local.apps.sample_app import app


def main(argv: list[str]) -> int:
    database, rest = argv[0], argv[1:]
    host = LocalHost(app, database=database)
    if rest:
        name, instance_id, input_json = rest
        host.start_new(name, instance_id, json.loads(input_json))
        instance_id = instance_id
    else:
        instance_id = host.query_instances()[0]["instance_id"]
    status = host.wait_for(instance_id, timeout=120, poll_interval=0.05)
    print(json.dumps({"status": status.runtime_status.value, "output": status.output}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
