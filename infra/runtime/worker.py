"""A worker process: one Lambda execution environment for one function.

Started as `python -m infra.runtime.worker FD LIFELINE_FD CODE_DIR HANDLER [PATH ...]` with the
function's environment only. It imports the handler once (the cold start), then serves invocations
sent over the socket FD one at a time. LIFELINE_FD is the read end of a pipe whose write end only the
runtime holds: it reads end-of-file when the runtime exits, however it exits, and the worker then
exits too, even in the middle of an invocation (an orphaned environment would keep writing to the
tables after `surge local up` has gone).
This module must not import anything of surge beyond `wire` and the Kafka payload builder (both free
of surge imports), so the function sees a clean process.
"""

from __future__ import annotations

import importlib
import marshal
import math
import os
import resource
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.runtime.kafka.events import KafkaBatch
from infra.runtime.wire import recv_frame, send_frame


@dataclass(frozen=True)
class ContextFields:
    """What the context takes from the environment: read once per execution environment, not on
    every invocation (seven lookups per invocation were 6% of the API function's CPU in a profile)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    log_group_name: str
    log_stream_name: str

    @classmethod
    def from_environment(cls) -> ContextFields:
        env = os.environ
        return cls(
            env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            env.get("SURGE_FUNCTION_ARN", ""),
            env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        )


class LambdaContext:
    """The context object Lambda passes to Python handlers."""

    def __init__(self, request_id: str, deadline_ms: float, fields: ContextFields) -> None:
        self.function_name = fields.function_name
        self.function_version = fields.function_version
        self.invoked_function_arn = fields.invoked_function_arn
        self.memory_limit_in_mb = fields.memory_limit_in_mb
        self.aws_request_id = request_id
        self.log_group_name = fields.log_group_name
        self.log_stream_name = fields.log_stream_name
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _load_handler(spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = spec.rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    trace = traceback.format_exception(exc) if exc is not None else []
    return {"ok": False, "errorType": error_type, "errorMessage": message, "stackTrace": trace}


def _event(request: dict[str, Any]) -> Any:
    """The payload the handler gets, marshalled by the runtime in the caller's thread (workers.py); a
    Kafka batch arrives as rows and is built here (events.py)."""
    if "kafkaBatch" in request:
        return KafkaBatch.from_wire(marshal.loads(request["kafkaBatch"])).to_event()
    return marshal.loads(request["event"])


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: str | int,
    peak_mb: str | int,
    init_ms: float | None = None,
) -> str:
    """Lambda's REPORT line (tab-separated, as in CloudWatch Logs). Billed Duration: the duration
    rounded up to the millisecond, plus the init on a cold start (Lambda bills the INIT phase of
    on-demand functions); Max Memory Used: the environment's peak resident set."""
    billed = math.ceil(duration_ms + (init_ms or 0.0))
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms"
        f"\tMemory Size: {memory_mb} MB\tMax Memory Used: {peak_mb} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    return line


def serve(
    sock: socket.socket, code_dir: str, handler_spec: str, python_path: list[str] | None = None
) -> None:
    # Lambda's order: the code (/var/task), then its packages and layers (/opt), then the runtime's.
    sys.path[0:0] = [code_dir, *(python_path or [])]
    os.chdir(code_dir)
    try:
        handler = _load_handler(handler_spec)
        send_frame(sock, {"ready": True})
    except Exception as exc:
        traceback.print_exc()
        send_frame(
            sock,
            {
                "ready": False,
                **_error(
                    "Runtime.ImportModuleError", f"Unable to import module '{handler_spec}': {exc}", exc
                ),
            },
        )
        return
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    context_fields = ContextFields.from_environment()
    out = sys.stdout
    while True:
        request = recv_frame(sock)
        if request is None:
            return
        request_id = request["requestId"]
        init_ms = request.get("initMs")  # the runtime's measure of this environment's init, once
        context = LambdaContext(request_id, request["deadlineMs"], context_fields)
        started = time.perf_counter()
        reply: dict[str, Any]
        try:
            reply = {"ok": True, "payload": handler(_event(request), context)}
        except Exception as exc:
            traceback.print_exc()
            reply = _error(type(exc).__name__, str(exc), exc)
        duration_ms = (time.perf_counter() - started) * 1000
        reply["durationMs"] = duration_ms
        try:
            send_frame(sock, reply)
        except (TypeError, ValueError) as exc:
            error = _error("Runtime.MarshalError", f"Unable to marshal response: {exc}", exc)
            send_frame(sock, {**error, "durationMs": duration_ms})
        # What Lambda's runtime prints after each invocation, in the function's own log; written
        # after the reply so that the caller does not wait for it. Init Duration: the first one only.
        sys.stderr.flush()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
        out.write(report_line(request_id, duration_ms, memory_mb, peak_mb, init_ms) + "\n")
        out.flush()


def exit_with_runtime(lifeline_fd: int) -> None:
    """Exit this process once the runtime that started it has exited (see the module docstring).
    A blocking read in a daemon thread costs nothing while the runtime lives; PR_SET_PDEATHSIG would
    follow the runtime's *thread* that started the worker, which may end long before the runtime."""

    def wait_for_eof() -> None:
        while os.read(lifeline_fd, 1):  # nothing is ever written; b"" is the runtime gone
            pass
        os._exit(1)

    threading.Thread(target=wait_for_eof, name="surge-lifeline", daemon=True).start()


def main() -> None:
    fd, lifeline_fd, code_dir, handler_spec = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    exit_with_runtime(lifeline_fd)
    serve(socket.socket(fileno=fd), code_dir, handler_spec, sys.argv[5:])


if __name__ == "__main__":
    main()
