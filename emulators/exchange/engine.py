"""The stand-in's WSMan operations: shells for each endpoint, and the pipelines that run cmdlets in them."""

from __future__ import annotations

import base64
import binascii
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from psrpcore.types import ErrorCategory

from emulators.exchange import cmdlets, runtime, wsman
from emulators.exchange.clixml import RawObject
from emulators.exchange.errors import CmdletError
from emulators.exchange.faults import Fault, FaultRules
from emulators.exchange.journal import Journal, masked
from emulators.exchange.organisation import ExchangeState
from emulators.exchange.session import Pipeline, PipelineSink, ReceiveTimeout, Shell, UnknownCommand
from emulators.exchange.wsman import NS, WSManFault, el, sub

SHELL_IDLE_TIMEOUT_S = 900.0  # Exchange closes idle remote PowerShell shells after 15 minutes
EXCHANGE = "Microsoft.Exchange"
WINDOWS_POWERSHELL = "Microsoft.PowerShell"


@dataclass(frozen=True)
class Endpoint:
    """Where a request arrived: which organisation, and which PowerShell configuration is served there."""

    org: str
    configuration: str

    @property
    def label(self) -> str:
        return "PowerShell" if self.configuration == EXCHANGE else "wsman"


class TransportFault(Exception):
    """A fault rule that acts on the HTTP exchange itself (status, dropped connection)."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.kind)
        self.fault = fault


class StandIn:
    """Everything one stand-in process serves; the HTTP layer calls `handle` once a request is authenticated."""

    def __init__(self, state: ExchangeState, captures: dict[str, list[RawObject]] | None = None,
                 tenant_state_url: str | None = None) -> None:
        self.state = state
        self.captures = {k.lower(): v for k, v in (captures or {}).items()}
        self.tenant_state_url = tenant_state_url
        self.journal = Journal()
        self.faults = FaultRules()
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()

    # -- WSMan dispatch -----------------------------------------------------------------------------------------

    def handle(self, req: wsman.Request, endpoint: Endpoint, user: str) -> bytes:
        """Answer one WSMan request; raises WSManFault or TransportFault."""
        self.journal.count(f"wsman.{req.action}")
        fault = self.faults.take(req.action, endpoint.org, kinds=("http", "drop", "delay", "error", "throttle"))
        if fault is not None:
            self._apply_transport_fault(fault, req.action, endpoint, user)
        if req.action == "Create":
            return self._create(req, endpoint, user)
        shell = self._shell(req, endpoint)
        if req.action == "Delete":
            with self._lock:
                self._shells.pop(shell.id, None)
            shell.close()
            self.journal.record("Delete", {}, user, endpoint.label, endpoint.org, "ok")
            return wsman.response(req, None)
        if req.action == "Get":
            return wsman.response(req, self._shell_element(shell))
        if req.action == "Command":
            return self._command(req, shell, endpoint, user)
        if req.action == "Send":
            return self._send(req, shell, endpoint, user)
        if req.action == "Receive":
            return self._receive(req, shell)
        return self._signal(req, shell)

    def _apply_transport_fault(self, fault: Fault, operation: str, endpoint: Endpoint, user: str) -> None:
        self.journal.record(operation, {}, user, endpoint.label, endpoint.org, "fault", fault.kind)
        if fault.kind == "delay":
            time.sleep(fault.delay_s)
            return
        if fault.kind == "error":
            raise WSManFault(fault.code or wsman.INTERNAL_ERROR, fault.message)
        if fault.kind == "throttle":  # PowerShellMaxCmdlets: the user sent too many requests too fast
            raise WSManFault(wsman.THROTTLED, wsman.cmdlet_quota_text(30, 2, fault.retry_ms))
        raise TransportFault(fault)

    def _shell(self, req: wsman.Request, endpoint: Endpoint) -> Shell:
        with self._lock:
            shell = self._shells.get((req.shell_id or "").upper())
            if shell is not None:
                shell.last_used = time.monotonic()
        if shell is None or shell.org != endpoint.org or shell.endpoint != endpoint.configuration:
            raise WSManFault(
                wsman.SHELL_NOT_FOUND,
                f"The request for the Windows Remote Shell with ShellId {req.shell_id} failed because the shell was "
                "not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no "
                "longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation.",
                "w:InvalidSelectors",
            )
        return shell

    def _create(self, req: wsman.Request, endpoint: Endpoint, user: str) -> bytes:
        configuration = req.resource_uri[len(wsman.RESOURCE_PREFIX):] if req.resource_uri.startswith(
            wsman.RESOURCE_PREFIX) else ""
        if configuration.lower() != endpoint.configuration.lower():
            self.journal.record("Create", {"configuration": configuration}, user, endpoint.label, endpoint.org, "fault")
            raise WSManFault(
                wsman.INVALID_RESOURCE_URI,
                f"The WS-Management service cannot process the request. The resource URI ({req.resource_uri}) was "
                "not found in the WS-Management catalog. The catalog contains the metadata that describes resources, "
                "or logical endpoints.",
                "w:DestinationUnreachable",
            )
        shell_el = req.body.find("rsp:Shell", NS)
        creation = shell_el.find("pwsh:creationXml", NS) if shell_el is not None else None
        if shell_el is None or creation is None or not (creation.text or "").strip():
            raise WSManFault(wsman.SCHEMA_INVALID, "The Create request has no rsp:Shell/creationXml.",
                             "w:SchemaValidationError")
        shell_id = (shell_el.get("ShellId") or str(uuid.uuid4())).upper()
        shell = Shell(shell_id, req.resource_uri, endpoint.org, user, endpoint.configuration, self._run_pipeline)
        shell.feed(_b64(creation.text), None)
        org = self.state.org(endpoint.org)
        limit = org.max_concurrent_shells if org is not None else 18
        with self._lock:
            # Abandoned shells (a client that never sent Delete) go once idle, as WinRM's IdleTimeOut does.
            now = time.monotonic()
            for stale in [k for k, v in self._shells.items() if now - v.last_used > SHELL_IDLE_TIMEOUT_S]:
                self._shells.pop(stale).close()
            mine = sum(1 for v in self._shells.values() if v.user.lower() == user.lower() and v.org == endpoint.org)
            if endpoint.configuration == EXCHANGE and mine >= limit:
                self.journal.record("Create", {"configuration": configuration}, user, endpoint.label, endpoint.org,
                                    "fault", "PowerShellMaxConcurrency")
                raise WSManFault(wsman.THROTTLED, wsman.max_shells_text(limit))
            self._shells[shell_id] = shell
        self.journal.record("Create", {"configuration": configuration}, user, endpoint.label, endpoint.org, "ok")
        created = el("wst:ResourceCreated")
        sub(created, "wsa:Address", "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous")
        refs = sub(created, "wsa:ReferenceParameters")
        sub(refs, "wsman:ResourceURI", req.resource_uri)
        selectors = sub(refs, "wsman:SelectorSet")
        sub(selectors, "wsman:Selector", shell_id, Name="ShellId")
        # The Create response body holds ResourceCreated and then the Shell description; pypsrp reads both.
        return wsman.response(req, created, self._shell_element(shell))

    def _shell_element(self, shell: Shell) -> ET.Element:
        desc = el("rsp:Shell")
        for tag, text in (
            ("ShellId", shell.id), ("ResourceUri", shell.resource_uri), ("Owner", shell.user),
            ("ClientIP", "127.0.0.1"), ("IdleTimeOut", "PT900.000S"), ("InputStreams", "stdin pr"),
            ("OutputStreams", "stdout"), ("ShellRunTime", "P0DT0H0M0S"), ("ShellInactivity", "P0DT0H0M0S"),
            ("State", "Connected"),
        ):
            sub(desc, f"rsp:{tag}", text)
        return desc

    def _command(self, req: wsman.Request, shell: Shell, endpoint: Endpoint, user: str) -> bytes:
        line = req.body.find("rsp:CommandLine", NS)
        if line is None:
            raise WSManFault(wsman.SCHEMA_INVALID, "The Command request has no rsp:CommandLine.", "w:SchemaValidationError")
        command_id = _uuid(line.get("CommandId") or str(uuid.uuid4()))
        try:
            shell.new_pipeline(command_id)
            ready = shell.feed(_b64(line.findtext("rsp:Arguments", "", NS)), command_id)
        except UnknownCommand as exc:
            raise WSManFault(wsman.INVALID_SELECTORS, f"The command {exc} is not valid here.", "w:InvalidSelectors") from None
        self._start(shell, ready, endpoint, user)
        body = el("rsp:CommandResponse")
        sub(body, "rsp:CommandId", str(command_id).upper())
        return wsman.response(req, body)

    def _start(self, shell: Shell, ready: list[Pipeline], endpoint: Endpoint, user: str) -> None:
        """Start complete pipelines, unless an http/drop fault rule on their cmdlet fails this HTTP request."""
        for pipe in ready:
            for name, _, _ in pipe.commands:
                fault = self.faults.take("Command", endpoint.org, cmdlet=name, kinds=("http", "drop"))
                if fault is not None:
                    self.journal.record(name, {}, user, endpoint.label, endpoint.org, "fault", fault.kind)
                    shell.discard(pipe)
                    raise TransportFault(fault)
            shell.start(pipe)

    def _send(self, req: wsman.Request, shell: Shell, endpoint: Endpoint, user: str) -> bytes:
        stream = req.body.find("rsp:Send/rsp:Stream", NS)
        if stream is None:
            raise WSManFault(wsman.SCHEMA_INVALID, "The Send request has no rsp:Stream.", "w:SchemaValidationError")
        command_id = _uuid(stream.get("CommandId")) if stream.get("CommandId") else None
        try:
            ready = shell.feed(_b64(stream.text or ""), command_id)
        except UnknownCommand as exc:
            raise WSManFault(wsman.INVALID_SELECTORS, f"The command {exc} is not valid here.", "w:InvalidSelectors") from None
        self._start(shell, ready, endpoint, user)
        return wsman.response(req, el("rsp:SendResponse"))

    def _receive(self, req: wsman.Request, shell: Shell) -> bytes:
        desired = req.body.find("rsp:Receive/rsp:DesiredStream", NS)
        if desired is None:
            raise WSManFault(wsman.SCHEMA_INVALID, "The Receive request has no rsp:DesiredStream.", "w:SchemaValidationError")
        command_id = _uuid(desired.get("CommandId")) if desired.get("CommandId") else None
        budget = max(req.max_envelope * 3 // 4 - 4096, 32 * 1024)  # base64 and the envelope around it
        try:
            chunks, done = shell.receive(command_id, req.operation_timeout, budget)
        except ReceiveTimeout:
            raise WSManFault(
                wsman.TIMED_OUT,
                "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
                "w:TimedOut",
            ) from None
        except UnknownCommand:
            raise WSManFault(
                wsman.INVALID_SELECTORS,
                f"The request for the Windows Remote Shell with ShellId {shell.id} failed because the command with "
                f"CommandId {str(command_id).upper()} was not found or has already finished.",
                "w:InvalidSelectors",
            ) from None
        body = el("rsp:ReceiveResponse")
        attrs = {"Name": "stdout"}
        if command_id is not None:
            attrs["CommandId"] = str(command_id).upper()
        for chunk in chunks:
            sub(body, "rsp:Stream", base64.b64encode(chunk).decode(), **attrs)
        if command_id is not None:
            state = "Done" if done else "Running"
            cs = sub(body, "rsp:CommandState", CommandId=str(command_id).upper(),
                     State=f"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/{state}")
            if done:
                sub(cs, "rsp:ExitCode", "0")
        return wsman.response(req, body)

    def _signal(self, req: wsman.Request, shell: Shell) -> bytes:
        signal = req.body.find("rsp:Signal", NS)
        if signal is None or not signal.get("CommandId"):
            raise WSManFault(wsman.SCHEMA_INVALID, "The Signal request has no CommandId.", "w:SchemaValidationError")
        command_id = _uuid(signal.get("CommandId"))
        try:
            shell.signal(command_id, signal.findtext("rsp:Code", "", NS))
        except UnknownCommand:
            # Terminating something already gone is harmless (pypsrp terminates every pipeline it closes).
            pass
        return wsman.response(req, el("rsp:SignalResponse"))

    # -- pipelines -------------------------------------------------------------------------------------------------

    def _run_pipeline(self, shell: Shell, pipe: Pipeline, sink: PipelineSink) -> None:
        org = self.state.org(shell.org)
        registry = cmdlets.EXCHANGE_CMDLETS if shell.endpoint == EXCHANGE else cmdlets.WINDOWS_POWERSHELL_CMDLETS
        label = "PowerShell" if shell.endpoint == EXCHANGE else "wsman"
        if org is None:
            sink.fail(CmdletError("InvalidOperationException", f"The organization '{shell.org}' no longer exists."), None)
            return
        via = org.via  # CU11+: the session runs on the caller's mailbox server, whatever the URL says
        sink.server = via.name
        for name, parameters, is_script in pipe.commands:
            journal_params = {str(k): masked(k, v) for k, v in parameters if k is not None}
            positional = [masked(None, v) for k, v in parameters if k is None]
            if positional:
                journal_params["(positional)"] = positional
            if is_script:
                self.journal.record("(script)", {}, shell.user, label, org.name, "error", "ScriptsNotAllowed")
                sink.fail(runtime.scripts_not_allowed(), None)
                return
            cmdlet = registry.get(name.lower())
            capture = self.captures.get(name.lower()) if shell.endpoint == EXCHANGE else None
            if cmdlet is None and capture is None:
                self.journal.record(name, journal_params, shell.user, label, org.name, "error", "CommandNotFoundException")
                sink.fail(runtime.command_not_found(name), None)
                return
            spec = cmdlet or runtime.Cmdlet(name, lambda ctx, p: None, (), None)
            try:
                bound, common = runtime.bind(spec, parameters) if cmdlet else ({}, {})
            except CmdletError as exc:
                self.journal.record(name, journal_params, shell.user, label, org.name, "error", exc.message)
                sink.fail(exc, spec)
                return
            inv = runtime.Invocation(
                cmdlet=spec, state=self.state, org=org, via=via, runspace_id=shell.runspace_id, user=shell.user,
                sink=sink, error_action=str(common.get("ErrorAction", "Continue")),
                confirmed=common.get("Confirm") is False or str(common.get("Confirm")).lower() == "false",
                extras={"tenant_state_url": self.tenant_state_url},
            )
            fault = self.faults.take(name, org.name, cmdlet=name, kinds=("error", "delay"))
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay_s)  # a slow cmdlet: the client's Receive long-polls meanwhile
                fault = None
            try:
                if fault is not None:
                    failure = CmdletError(fault.exception, fault.message, ErrorCategory.NotSpecified,
                                          terminating=fault.terminating)
                    if fault.terminating:
                        raise failure
                    inv.error(failure)
                elif capture is not None:
                    for obj in capture:
                        inv.write(obj)
                else:
                    spec.run(inv, bound)
            except CmdletError as exc:
                self.journal.record(name, journal_params, shell.user, label, org.name,
                                    "fault" if fault else "error", exc.message)
                sink.fail(exc, spec)
                return
            outcome = "fault" if fault else ("error" if inv.errors else "ok")
            self.journal.record(name, journal_params, shell.user, label, org.name, outcome,
                                "; ".join(e.message for e in inv.errors) or None)

    def shell_count(self) -> int:
        with self._lock:
            return len(self._shells)


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WSManFault(wsman.SCHEMA_INVALID, "A PSRP stream is not valid base64.", "w:SchemaValidationError") from None


def _uuid(text: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        raise WSManFault(wsman.INVALID_SELECTORS, f"'{text}' is not a valid command id.", "w:InvalidSelectors") from None
