"""API errors: every error response is `{"error": {"code", "message", ...}}` with a status that fits."""

from __future__ import annotations

from typing import Any

from pushproxy.errors import PushProxyError, SpecError


class ApiError(PushProxyError):
    """An error the API answers with. `extra` adds fields to the error object (e.g. `field`, `status_url`)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}

    @classmethod
    def from_spec_error(cls, exc: SpecError) -> ApiError:
        """Bad input: 400 naming the field and the reason."""
        return cls(400, "invalid_input", str(exc), field=exc.field)


def bad_input(field: str, reason: str) -> ApiError:
    return ApiError.from_spec_error(SpecError(field, reason))


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
