"""The Azure Functions entry point: one DFApp, the blueprints registered, nothing else."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
