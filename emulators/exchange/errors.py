"""Error records shaped like Exchange's: exception type chain, FullyQualifiedErrorId, category and reason."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from dataclasses import dataclass

from psrpcore.types import ErrorCategory, ErrorCategoryInfo, ErrorRecord, NETException

# Type chains of the exceptions the stand-in raises, as Exchange and PowerShell name them.
_CHAINS: dict[str, list[str]] = {
    "ManagementObjectNotFoundException": [
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        "Microsoft.Exchange.Data.Common.LocalizedException",
    ],
    "ManagementObjectAlreadyExistsException": [
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAlreadyExistsException",
        "Microsoft.Exchange.Data.Common.LocalizedException",
    ],
    "TaskException": [
        "Microsoft.Exchange.Configuration.Tasks.TaskException",
        "Microsoft.Exchange.Data.Common.LocalizedException",
    ],
    "NoNextCertificateException": [
        "Microsoft.Exchange.Management.SystemConfigurationTasks.NoNextCertificateException",
        "Microsoft.Exchange.Data.Common.LocalizedException",
    ],
    "AuthMetadataClientException": [
        "Microsoft.Exchange.Security.OAuth.AuthMetadataClientException",
        "Microsoft.Exchange.Data.Common.LocalizedException",
    ],
    "ArgumentException": ["System.ArgumentException", "System.SystemException"],
    "InvalidOperationException": ["System.InvalidOperationException", "System.SystemException"],
    "ParseException": [
        "System.Management.Automation.ParseException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "CommandNotFoundException": [
        "System.Management.Automation.CommandNotFoundException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "ParameterBindingException": [
        "System.Management.Automation.ParameterBindingException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "HostException": [
        "System.Management.Automation.Host.HostException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "PSInvalidOperationException": [
        "System.Management.Automation.PSInvalidOperationException",
        "System.InvalidOperationException",
        "System.SystemException",
    ],
}


class _CategoryInfo(ErrorCategoryInfo):
    """PowerShell's own CategoryInfo text has a colon after the category (psrpcore's lacks it)."""

    def __str__(self) -> str:
        return (
            f'{self.Category.name!s}: ({self.TargetName or ""}:{self.TargetType or ""}) '
            f'[{self.Activity or ""}], {self.Reason or ""}'
        )


@dataclass
class CmdletError(Exception):
    """An error a cmdlet reports. `terminating` errors fail the pipeline (ThrowTerminatingError)."""

    exception: str
    message: str
    category: ErrorCategory = ErrorCategory.NotSpecified
    error_id: str | None = None  # a PowerShell FQID (engine errors); Exchange task errors get the Exchange form
    target: str | None = None
    terminating: bool = False

    def __str__(self) -> str:
        return self.message


def exchange_error_id(exception: str, task_class: str, server: str) -> str:
    """`[Server=X,RequestId=…,TimeStamp=…] [FailureCategory=Cmdlet-Exc] 8HEX,Task.Class`, as Exchange writes it."""
    now = dt.datetime.now(dt.UTC)
    stamp = f"{now.month}/{now.day}/{now.year} {now.strftime('%I:%M:%S %p').lstrip('0')}"
    code = f"{zlib.crc32(f'{task_class}/{exception}'.encode()):08X}"
    return (
        f"[Server={server},RequestId={uuid.uuid4()},TimeStamp={stamp}] "
        f"[FailureCategory=Cmdlet-{exception}] {code},{task_class}"
    )


def to_record(error: CmdletError, cmdlet: str, task_class: str | None, server: str) -> ErrorRecord:
    chain = _CHAINS.get(error.exception, [error.exception])
    exc = NETException(Message=error.message, HResult=-2146233087)
    exc.PSObject.type_names = [*chain, "System.Exception", "System.Object"]
    if error.error_id is not None:
        fqid = error.error_id
    elif task_class is not None:
        fqid = exchange_error_id(error.exception, task_class, server)
    else:
        fqid = error.exception
    return ErrorRecord(
        Exception=exc,
        CategoryInfo=_CategoryInfo(
            Category=error.category, Activity=cmdlet, Reason=error.exception, TargetName=error.target or "",
            TargetType="String" if error.target else "",
        ),
        TargetObject=error.target,
        FullyQualifiedErrorId=fqid,
    )
