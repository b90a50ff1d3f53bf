"""A test-only "version 3" of the product: the same app with a rotation orchestrator whose code after the wait
differs (it re-reads the tenant before publishing), as a real v3 deployment would change it (docs/deploy.md).

The rule it shows: a version's code keeps the path of every older version that may still have instances in
flight, and takes the new path only for instances that started as "3" (`run.version`, from their history).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from orchestrators.rotation import RotationRun, run_rotation
from pushproxy.activity_names import Activity, Orchestrator
from pushproxy.workflow import call_step

V3_NOTE = "version 3: re-read the tenant after the wait, before publishing"

bp = df.Blueprint()


class RotationRunV3(RotationRun):
    def wait_and_publish(self, thumbprint: str, effective: datetime) -> Generator[Any, Any, Any]:
        if self.version in ("1", "2"):
            # Started under "2": replayed and finished on the code it started with.
            return (yield from super().wait_and_publish(thumbprint, effective))
        yield from self.wait_until(effective, "staged", f"the effective date of {thumbprint}, then publish")
        self.note(V3_NOTE)
        yield from call_step(self.context, Activity.DISCOVER_TENANT, {"spec": self.spec_dict}, self.retry)
        return (yield from super().wait_and_publish(thumbprint, effective))


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.ROTATION)
def rotation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from run_rotation(RotationRunV3(context)))


def build_app() -> df.DFApp:
    from app_factory import build_app as product

    return product(rotation_orchestrator_bp=bp)
