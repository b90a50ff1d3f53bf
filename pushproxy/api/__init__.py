"""The HTTP API's host-agnostic half: request validation, error and response shapes (functions/http_api.py is the rest)."""
