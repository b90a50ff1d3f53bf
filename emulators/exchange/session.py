"""One WSMan shell = one PSRP runspace pool (psrpcore's server side) and the pipelines run in it.

psrpcore is sans-IO: incoming fragments go in with `receive_data`, events come out of `next_event`, outgoing
fragments come out of `data_to_send`. Outgoing data is queued per target (the pool, or one pipeline) because
pypsrp receives pool messages and pipeline messages with different Receive requests.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psrpcore import CreatePipelineEvent, PSRPPayload, ServerPipeline, ServerRunspacePool, StreamType
from psrpcore._payload import PSRPMessage, create_message
from psrpcore.types import PSInvocationState, PSRPMessageType

from emulators.exchange import errors
from emulators.exchange.clixml import RawObject
from emulators.exchange.errors import CmdletError
from emulators.exchange.runtime import Cmdlet

_FRAGMENT_SIZE = 64 * 1024  # stays well under any client's MaxEnvelopeSize once base64-encoded


class _RunspacePool(ServerRunspacePool):
    """psrpcore's server pool, plus pipeline output given as raw CLIXML (see clixml.py for why)."""

    def prepare_message(self, message: Any, message_type: Any = None, pipeline_id: Any = None,
                        stream_type: StreamType = StreamType.default) -> None:
        if isinstance(message, RawObject):
            data = create_message(False, PSRPMessageType.PipelineOutput, message.xml, self.runspace_pool_id, pipeline_id)
            self._send_buffer.append(PSRPMessage(
                PSRPMessageType.PipelineOutput, bytearray(data), self.runspace_pool_id, pipeline_id,
                self._fragment_counter, stream_type,
            ))
            return
        super().prepare_message(message, message_type, pipeline_id, stream_type)


@dataclass
class Pipeline:
    id: uuid.UUID
    psrp: ServerPipeline
    commands: list[tuple[str, list[tuple[str | None, Any]], bool]] = field(default_factory=list)
    created: bool = False
    finished: bool = False
    done_delivered: bool = False


class ReceiveTimeout(Exception):
    """Nothing to send within OperationTimeout (WSMan fault 0x80338029)."""


class UnknownCommand(Exception):
    """A Receive/Send/Signal for a pipeline that doesn't exist or has finished."""


Runner = Callable[["Shell", Pipeline, "PipelineSink"], None]


class Shell:
    """A runspace pool and its pipelines, safe to drive from several HTTP threads."""

    def __init__(self, shell_id: str, resource_uri: str, org: str, user: str, endpoint: str, runner: Runner) -> None:
        self.id = shell_id
        self.resource_uri = resource_uri
        self.org = org
        self.user = user
        self.endpoint = endpoint
        self.created = dt.datetime.now(dt.UTC)
        self.last_used = time.monotonic()
        self._runner = runner
        self._cond = threading.Condition()
        self._pool = _RunspacePool()
        self._queues: dict[uuid.UUID | None, list[bytes]] = {}
        self._pipelines: dict[uuid.UUID, Pipeline] = {}

    @property
    def runspace_id(self) -> uuid.UUID:
        return self._pool.runspace_pool_id

    # -- input ------------------------------------------------------------------------------------------------

    def feed(self, data: bytes, command_id: uuid.UUID | None) -> list[Pipeline]:
        """Give the pool client fragments; returns pipelines whose CreatePipeline is now complete (not started)."""
        ready = []
        with self._cond:
            if command_id is not None and command_id not in self._pipelines:
                raise UnknownCommand(str(command_id))
            self._pool.receive_data(PSRPPayload(data, StreamType.default, command_id))
            while (event := self._pool.next_event()) is not None:
                if isinstance(event, CreatePipelineEvent) and event.pipeline_id is not None:
                    pipe = self._pipelines[event.pipeline_id]
                    pipe.commands = [
                        (c.command_text, list(c.parameters), bool(c.is_script)) for c in event.pipeline.commands
                    ]
                    pipe.created = True
                    ready.append(pipe)
            self._drain()
        return ready

    def new_pipeline(self, command_id: uuid.UUID) -> Pipeline:
        with self._cond:
            if command_id in self._pipelines:
                raise UnknownCommand(f"{command_id} already exists")
            pipe = Pipeline(command_id, ServerPipeline(self._pool, command_id))
            self._pipelines[command_id] = pipe
            return pipe

    def start(self, pipe: Pipeline) -> None:
        with self._cond:
            pipe.psrp.start()
        thread = threading.Thread(target=self._run, args=(pipe,), name=f"pipeline-{pipe.id}", daemon=True)
        thread.start()

    def discard(self, pipe: Pipeline) -> None:
        with self._cond:
            self._pipelines.pop(pipe.id, None)
            self._pool.pipeline_table.pop(pipe.id, None)

    def _run(self, pipe: Pipeline) -> None:
        sink = PipelineSink(self, pipe)
        try:
            self._runner(self, pipe, sink)
        except CmdletError as exc:
            sink.fail(exc, None)
        except Exception as exc:  # an emulator bug must still end the pipeline, not hang the client
            sink.fail(CmdletError("InvalidOperationException", f"Internal stand-in error: {exc!r}"), None)
        else:
            sink.complete()

    def signal(self, command_id: uuid.UUID, code: str) -> None:
        with self._cond:
            pipe = self._pipelines.get(command_id)
            if pipe is None:
                raise UnknownCommand(str(command_id))
            if code.lower().endswith("terminate"):
                if pipe.psrp.state == PSInvocationState.Running:
                    pipe.psrp.stop()
                pipe.finished = pipe.done_delivered = True
                self._pipelines.pop(command_id, None)
                self._pool.pipeline_table.pop(command_id, None)
                self._queues.pop(command_id, None)
            elif pipe.psrp.state == PSInvocationState.Running:  # ctrl_c: stop it, report Stopped
                pipe.psrp.stop()
                pipe.finished = True
            self._drain()
            self._cond.notify_all()

    # -- output -----------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        while (payload := self._pool.data_to_send(_FRAGMENT_SIZE)) is not None:
            self._queues.setdefault(payload.pipeline_id, []).append(payload.data)

    def locked(self, fn: Callable[[], None]) -> None:
        """Run `fn` (a psrpcore write) under the pool lock, then queue and wake receivers."""
        with self._cond:
            fn()
            self._drain()
            self._cond.notify_all()

    def receive(self, command_id: uuid.UUID | None, timeout: float, max_bytes: int) -> tuple[list[bytes], bool]:
        """Long-poll: the queued fragments for the pool or a pipeline, and whether that pipeline is done."""
        with self._cond:
            if command_id is not None:
                pipe = self._pipelines.get(command_id)
                if pipe is None or pipe.done_delivered:
                    raise UnknownCommand(str(command_id))
            if not self._cond.wait_for(lambda: bool(self._queues.get(command_id)), timeout):
                raise ReceiveTimeout()
            queue = self._queues[command_id]
            chunks: list[bytes] = []
            size = 0
            while queue and (not chunks or size + len(queue[0]) <= max_bytes):
                size += len(queue[0])
                chunks.append(queue.pop(0))
            done = False
            if command_id is not None:
                pipe = self._pipelines[command_id]
                done = pipe.finished and not queue
                pipe.done_delivered = done
            return chunks, done

    def close(self) -> None:
        with self._cond:
            for pipe in self._pipelines.values():
                pipe.finished = pipe.done_delivered = True
            self._pipelines.clear()
            self._queues.clear()
            self._cond.notify_all()


class PipelineSink:
    """The streams of one running pipeline; every write goes through the shell's lock."""

    def __init__(self, shell: Shell, pipe: Pipeline) -> None:
        self._shell = shell
        self._pipe = pipe
        self.server = "EX1"

    def _alive(self) -> bool:
        return self._pipe.psrp.state == PSInvocationState.Running

    def output(self, obj: RawObject) -> None:
        def write() -> None:
            if self._alive():
                self._pipe.psrp.write_output(obj)

        self._shell.locked(write)

    def error(self, error: CmdletError, cmdlet: Cmdlet) -> None:
        record = errors.to_record(error, cmdlet.name, cmdlet.task_class, self.server)

        def write() -> None:
            if self._alive():
                self._pipe.psrp.prepare_message(record, message_type=PSRPMessageType.ErrorRecord)

        self._shell.locked(write)

    def warning(self, message: str) -> None:
        def write() -> None:
            if self._alive():
                self._pipe.psrp.write_warning(message)

        self._shell.locked(write)

    def fail(self, error: CmdletError, cmdlet: Cmdlet | None) -> None:
        record = errors.to_record(
            error, cmdlet.name if cmdlet else "", cmdlet.task_class if cmdlet else None, self.server
        )

        def write() -> None:
            if self._alive():
                self._pipe.psrp._change_state(PSInvocationState.Failed, error=record)  # no public "fail" in psrpcore
            self._pipe.finished = True

        self._shell.locked(write)

    def complete(self) -> None:
        def write() -> None:
            if self._alive():
                self._pipe.psrp.complete()
            self._pipe.finished = True

        self._shell.locked(write)
