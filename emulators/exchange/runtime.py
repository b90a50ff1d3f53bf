"""A NoLanguage runspace: cmdlet lookup, parameter binding, -ErrorAction, confirmation, and the error stream.

Only commands are accepted (no scripts), only registered cmdlets exist, and parameters bind by name (a unique
prefix is enough, as in PowerShell) or by position. Errors are Exchange's: non-terminating unless
`-ErrorAction Stop`, or terminating when the cmdlet throws.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from psrpcore.types import ErrorCategory, PSSecureString

from emulators.exchange.clixml import RawObject
from emulators.exchange.errors import CmdletError
from emulators.exchange.organisation import ExchangeState, Organisation, Server

COMMON_PARAMETERS = (
    "ErrorAction", "WarningAction", "InformationAction", "Verbose", "Debug", "ErrorVariable", "WarningVariable",
    "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "string"  # string | strings | switch | bool | securestring | datetime | int | bytes
    mandatory: bool = False
    position: int | None = None


@dataclass(frozen=True)
class Cmdlet:
    name: str
    run: Callable[[Invocation, dict[str, Any]], None]
    params: tuple[Param, ...] = ()
    task_class: str | None = None  # the .NET class Exchange names in its FullyQualifiedErrorId


class Sink(Protocol):
    """Where a running pipeline's streams go (the PSRP pipeline)."""

    def output(self, obj: RawObject) -> None: ...

    def error(self, error: CmdletError, cmdlet: Cmdlet) -> None: ...

    def warning(self, message: str) -> None: ...


@dataclass
class Invocation:
    """One cmdlet call: the organisation it runs against, who called it, and its output streams."""

    cmdlet: Cmdlet
    state: ExchangeState
    org: Organisation
    via: Server
    runspace_id: uuid.UUID
    user: str
    sink: Sink
    error_action: str = "Continue"
    confirmed: bool = False
    errors: list[CmdletError] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def write(self, obj: RawObject) -> None:
        self.sink.output(obj)

    def error(self, error: CmdletError) -> None:
        """WriteError: non-terminating unless the caller asked for -ErrorAction Stop."""
        self.errors.append(error)
        if self.error_action.lower() == "stop":
            error.terminating = True
            raise error
        if self.error_action.lower() not in ("silentlycontinue", "ignore"):
            self.sink.error(error, self.cmdlet)

    def warning(self, message: str) -> None:
        self.sink.warning(message)

    def should_continue(self, message: str) -> None:
        """A confirmation prompt: with no host (pypsrp's `_isHostNull`) it fails unless -Confirm:$false or -Force."""
        if not self.confirmed:
            raise CmdletError(
                "HostException",
                "A command that prompts the user failed because the host program or the command type does not "
                f"support user interaction. The host was attempting to request confirmation with the following "
                f"message: {message}",
                ErrorCategory.NotImplemented,
                error_id="HostFunctionNotImplemented",
                terminating=True,
            )


def _binding_error(cmdlet: str, error_id: str, message: str, target: str | None = None) -> CmdletError:
    return CmdletError(
        "ParameterBindingException", message, ErrorCategory.InvalidArgument, error_id=f"{error_id},{cmdlet}",
        target=target, terminating=True,
    )


def _convert(cmdlet: str, param: Param, value: Any) -> Any:
    try:
        if param.kind == "switch":
            return True if value is None else bool(value)
        if value is None:
            if param.kind == "strings":
                return []
            raise ValueError("a value is required")
        if param.kind == "bool":
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "$true", "$false"):
                    raise ValueError(f"{value!r} is not a Boolean")
                return value.lower().lstrip("$") == "true"
            return bool(value)
        if param.kind == "securestring":
            if not isinstance(value, PSSecureString):
                # Never echo the value: it was meant to be secret.
                raise ValueError(f'Cannot convert a value of type "{type(value).__name__}" to type '
                                 '"System.Security.SecureString"')
            return value
        if param.kind == "datetime":
            if isinstance(value, dt.datetime):
                return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if param.kind == "bytes":
            if not isinstance(value, bytes | bytearray):
                raise ValueError(f'Cannot convert a value of type "{type(value).__name__}" to type "System.Byte[]"')
            return bytes(value)
        if param.kind == "int":
            return int(value)
        if param.kind == "strings":
            return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        if isinstance(value, list | tuple):
            raise ValueError("a single value is required, not an array")
        return str(value)
    except (TypeError, ValueError) as exc:
        raise _binding_error(
            cmdlet, "ParameterArgumentTransformationError",
            f"Cannot process argument transformation on parameter '{param.name}'. {exc}", param.name,
        ) from None


def bind(cmdlet: Cmdlet, parameters: list[tuple[str | None, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bind PSRP command parameters to the cmdlet's; returns (cmdlet parameters, common parameters)."""
    names = {p.name.lower(): p for p in cmdlet.params}
    bound: dict[str, Any] = {}
    common: dict[str, Any] = {}
    positional = sorted((p for p in cmdlet.params if p.position is not None), key=lambda p: p.position or 0)
    for raw_name, value in parameters:
        if raw_name is None:
            free = [p for p in positional if p.name not in bound]
            if not free:
                raise _binding_error(
                    cmdlet.name, "PositionalParameterNotFound",
                    f"A positional parameter cannot be found that accepts argument '{value}'.",
                )
            bound[free[0].name] = _convert(cmdlet.name, free[0], value)
            continue
        name = raw_name.lstrip("-").lower()
        matches = [p for key, p in names.items() if key == name] or [p for key, p in names.items() if key.startswith(name)]
        common_matches = [c for c in COMMON_PARAMETERS if c.lower() == name] or [
            c for c in COMMON_PARAMETERS if c.lower().startswith(name)
        ]
        if len(matches) == 1 and (not common_matches or matches[0].name.lower() == name):
            bound[matches[0].name] = _convert(cmdlet.name, matches[0], value)
        elif len(common_matches) == 1 and not matches:
            common[common_matches[0]] = True if value is None else value
        elif matches or common_matches:
            candidates = ", ".join(sorted({p.name for p in matches} | set(common_matches)))
            raise _binding_error(
                cmdlet.name, "AmbiguousParameter",
                f"Parameter cannot be processed because the parameter name '{raw_name}' is ambiguous. "
                f"Possible matches include: {candidates}.",
            )
        else:
            raise _binding_error(
                cmdlet.name, "NamedParameterNotFound",
                f"A parameter cannot be found that matches parameter name '{raw_name}'.", raw_name,
            )
    missing = [p.name for p in cmdlet.params if p.mandatory and p.name not in bound]
    if missing:
        raise _binding_error(
            cmdlet.name, "MissingMandatoryParameter",
            f"Cannot process command because of one or more missing mandatory parameters: {' '.join(missing)}.",
        )
    return bound, common


def command_not_found(name: str) -> CmdletError:
    return CmdletError(
        "CommandNotFoundException",
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
        "Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
        ErrorCategory.ObjectNotFound, error_id="CommandNotFoundException", target=name, terminating=True,
    )


def scripts_not_allowed() -> CmdletError:
    return CmdletError(
        "ParseException",
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
        ErrorCategory.ParserError, error_id="ScriptsNotAllowed", terminating=True,
    )
