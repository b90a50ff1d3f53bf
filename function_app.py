"""The Azure Functions entry point: the worker indexes the one DFApp here, built by the composition root."""

from app_factory import build_app

app = build_app()
