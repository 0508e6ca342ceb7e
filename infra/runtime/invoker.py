"""How the runtime calls a function: one interface, so event sources do not care where code runs.

`WorkerInvoker` (the default) runs each function in its own Python worker processes, like Lambda
execution environments: the function's environment variables only (nothing leaks between functions),
one invocation at a time per worker, a real timeout (the worker is killed, as Lambda does), and a
crash or `sys.exit` in a handler only costs that worker. A later invoker can call functions deployed
on a Lambda endpoint (LocalStack, AWS) with the same payloads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

TIMEOUT_ERROR = "Sandbox.Timedout"
CRASH_ERROR = "Runtime.ExitError"
INIT_ERROR = "Runtime.ImportModuleError"
MARSHAL_ERROR = "Runtime.MarshalError"


@dataclass(frozen=True)
class InvocationResult:
    """What one invocation produced. `ok` is False when the function raised, timed out or crashed."""

    function_id: str
    request_id: str
    ok: bool
    payload: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0  # Lambda's Duration: the handler's own time when the worker reported it
    init_duration_ms: float | None = None  # set on an execution environment's first invocation

    @classmethod
    def failure(
        cls, function_id: str, request_id: str, error_type: str, message: str, duration_ms: float = 0.0
    ) -> InvocationResult:
        return cls(function_id, request_id, False, None, error_type, message, duration_ms)

    @property
    def function_error(self) -> str | None:
        """Lambda's X-Amz-Function-Error: "Unhandled" for any failed invocation."""
        return None if self.ok else "Unhandled"


class Invoker(Protocol):
    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        """Run the function once with this event and wait for the outcome. Thread-safe; never raises
        for the function's own failures (they come back as `ok=False`)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncInvoker(Invoker, Protocol):
    """An invoker whose invocations run on an event loop: code on that loop awaits `invoke_async`
    (the HTTP API serves its connections there), threads call `invoke`."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    async def invoke_async(self, function_id: str, event: Any) -> InvocationResult:
        """`invoke`, awaited on `loop`."""
        ...
