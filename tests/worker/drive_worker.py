"""Runs inside .venv-worker (requirements.txt + azure-functions-runtime only), with the staged app as the current
directory: the worker's own code indexes and loads the app, as the Functions host asks it to, and this prints what
it answered as JSON. Nothing of the worker is copied here; only its protobuf messages are stood in for (plain
objects with the fields the worker sets), because the library takes them from the host process it runs in.

    python drive_worker.py index            # WorkerInitRequest, FunctionsMetadataRequest, FunctionLoadRequest
    python drive_worker.py check MODULE.py  # the worker's Registry on each function of another app, one by one
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from types import SimpleNamespace
from typing import Any


class Message:
    """A protobuf message as the worker uses one: constructed with keyword fields, read back as attributes."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class StatusResult(Message):
    Failure, Success, Cancelled = 0, 1, 2  # FunctionRpc.proto: StatusResult.Status


class BindingInfo(Message):
    # FunctionRpc.proto: BindingInfo.Direction and BindingInfo.DataType
    out, inout = 1, 2
    undefined, string, binary, stream = 0, 1, 2, 3


PROTOS = SimpleNamespace(
    StatusResult=StatusResult,
    BindingInfo=BindingInfo,
    RpcException=type("RpcException", (Message,), {}),
    WorkerMetadata=type("WorkerMetadata", (Message,), {}),
    WorkerInitResponse=type("WorkerInitResponse", (Message,), {}),
    FunctionMetadataResponse=type("FunctionMetadataResponse", (Message,), {}),
    FunctionLoadResponse=type("FunctionLoadResponse", (Message,), {}),
    RpcFunctionMetadata=type("RpcFunctionMetadata", (Message,), {}),
    RpcRetryOptions=type("RpcRetryOptions", (Message,), {}),
)
setattr(PROTOS.BindingInfo, "in", 0)  # noqa: B010 - `in` is a keyword


def _status(result: Any) -> dict[str, Any]:
    exception = getattr(result, "exception", None)
    return {"status": "Success" if result.status == StatusResult.Success else "Failure",
            "message": getattr(exception, "message", None)}


async def index(app_dir: str) -> dict[str, Any]:
    from azure_functions_runtime import handle_event

    init = SimpleNamespace(
        request=SimpleNamespace(worker_init_request=SimpleNamespace(capabilities={}, function_app_directory=app_dir)),
        properties={"host": "127.0.0.1", "protos": PROTOS},
    )
    init_response = await handle_event.worker_init_request(init)
    answer: dict[str, Any] = {"init": _status(init_response.result), "functions": []}
    if init_response.result.status != StatusResult.Success:
        return answer
    metadata = await handle_event.functions_metadata_request(SimpleNamespace(request=None, properties={}))
    answer["metadata"] = _status(metadata.result)
    for fm in metadata.function_metadata_results or []:
        load = SimpleNamespace(request=SimpleNamespace(function_load_request=SimpleNamespace(
            function_id=fm.function_id, metadata=fm)), properties={})
        loaded = await handle_event.function_load_request(load)
        info = handle_event._functions.get_function(fm.function_id)
        answer["functions"].append({
            "name": fm.name,
            "script_file": fm.script_file,
            "raw_bindings": [json.loads(raw) for raw in fm.raw_bindings],
            "load": _status(loaded.result),
            "registered": info is not None,
            "is_async": bool(info and info.is_async),
            "input_types": {k: v.binding_name for k, v in (info.input_types.items() if info else ())},
        })
    return answer


def check(module_path: str) -> dict[str, Any]:
    """Each function of the module's app through the worker's Registry alone: None if it loads, else the reason."""
    from azure.functions import FunctionRegister
    from azure_functions_runtime.bindings.meta import load_binding_registry
    from azure_functions_runtime.functions import FunctionLoadError, Registry

    load_binding_registry()
    spec = importlib.util.spec_from_file_location("probe_app", module_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = next(v for v in vars(module).values() if isinstance(v, FunctionRegister))
    verdicts: dict[str, Any] = {}
    for fn in app.get_functions():
        try:
            Registry().add_indexed_function(fn, PROTOS)
            verdicts[fn.get_function_name()] = None
        except FunctionLoadError as exc:
            verdicts[fn.get_function_name()] = str(exc)
    return verdicts


def main() -> int:
    sys.path.insert(0, os.getcwd())  # the app's directory comes first, as the worker puts it
    if sys.argv[1] == "index":
        print(json.dumps(asyncio.run(index(os.getcwd()))))
    else:
        print(json.dumps(check(sys.argv[2])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
