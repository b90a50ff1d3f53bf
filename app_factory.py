"""The composition root: the one function that builds the app's DFApp with every blueprint.

function_app.py (what the Functions worker indexes), `pushproxy serve`, the CLI commands, the demo and the tests
all get the app from here; nothing else builds a DFApp of the product. The package itself (pushproxy/) never
imports this module or the triggers: the CLI loads it by name (pushproxy.onboarding.runner.product_app), as the
worker loads function_app.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func


def build_app(rotation_orchestrator_bp: df.Blueprint | None = None) -> df.DFApp:
    """A new DFApp with every function of the product: HTTP API, timer, activities and orchestrators.

    `rotation_orchestrator_bp`: another version of the rotation orchestrator in place of this one (the deployment
    test brings a version "3" that way, tests/e2e/rotation_v3_app.py)."""
    from functions import (
        activities,
        console,
        fleet,
        http_api,
        http_offboarding,
        http_rotation,
        notifications,
        offboarding,
        rotation,
        timers,
    )
    from orchestrators import notification_delivery, onboarding, verification
    from orchestrators import offboarding as offboarding_workflow
    from orchestrators import rotation as rotation_orchestrator
    from pushproxy.notifications.config import check_configuration

    check_configuration()  # a channel that isn't https, or malformed, is an error at start, naming the field
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in (console.bp, http_api.bp, http_offboarding.bp, http_rotation.bp, timers.bp, activities.bp, fleet.bp,
                      notifications.bp, offboarding.bp, rotation.bp, onboarding.bp, verification.bp,
                      offboarding_workflow.bp, rotation_orchestrator_bp or rotation_orchestrator.bp,
                      notification_delivery.bp):
        app.register_functions(blueprint)
    return app
