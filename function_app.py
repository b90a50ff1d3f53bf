"""The Azure Functions entry point: one DFApp, the blueprints registered, nothing else."""

import azure.durable_functions as df
import azure.functions as func

from functions import activities, http_api, timers
from orchestrators import onboarding, verification

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (activities.bp, http_api.bp, timers.bp, onboarding.bp, verification.bp):
    app.register_functions(blueprint)
