"""The one exception hierarchy of the product: callers branch on fields, not on message text."""

from __future__ import annotations


class PushProxyError(Exception):
    """Root of every error the product raises on purpose. `transient` says whether a retry may help."""

    transient: bool = False


class SpecError(PushProxyError, ValueError):
    """Bad input: names the field and the reason. Raised before anything reaches Exchange or Graph."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SecretError(PushProxyError):
    """A secret reference could not be resolved. Never carries the secret itself."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"secret {ref!r}: {reason}")
        self.ref = ref
        self.reason = reason


class ExchangeError(PushProxyError):
    """A cmdlet or the remoting transport failed, with Exchange's own error id and message."""

    def __init__(
        self,
        message: str,
        *,
        cmdlet: str | None = None,
        server: str | None = None,
        error_id: str | None = None,
        transient: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        where = " ".join(p for p in (cmdlet, f"on {server}" if server else None) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.cmdlet = cmdlet
        self.server = server
        self.error_id = error_id
        self.transient = transient
        # Exchange's throttling says how long to wait ("... not be approved for at least Z milliseconds").
        self.retry_after_s = retry_after_s


class TenantError(PushProxyError):
    """A Microsoft Graph or token call failed, with Graph's code, message and request id."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status = status
        self.transient = transient
