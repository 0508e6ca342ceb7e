"""`WorkerInvoker`: each function runs in its own pool of worker processes (see invoker.py).

Everything between the runtime and its workers happens on one event loop thread ("surge-invoker"):
each worker's requests and replies, its log lines, its Timeout, and the queue of callers waiting for
an environment. Threads (Kafka and stream sources, schedules) call `invoke`, which hands the
invocation to the loop and waits for it; the HTTP API runs on the same loop and awaits
`invoke_async`, so an HTTP request passes no work between threads at all. (A thread per connection
and per worker log handed the interpreter lock around about fifty ways: README, Benchmarks.)
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.runtime.invoker import CRASH_ERROR, INIT_ERROR, TIMEOUT_ERROR, InvocationResult
from infra.runtime.kafka.events import KafkaBatch
from infra.runtime.loop import LoopThread
from infra.runtime.wire import FrameDecoder, encode_frame
from infra.runtime.worker import report_line
from infra.stats import percentile

logger = logging.getLogger(__name__)

# Variables a worker inherits from surge's own environment; everything else comes from the template.
_INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_INIT_TIMEOUT_S = 30.0  # Lambda allows 10 s of init; local imports on a cold disk can be slower
_CLOSE_GRACE_S = 5.0  # for invocations still running when the invoker closes


@dataclass(frozen=True)
class FunctionRuntime:
    """What a worker needs to run one function."""

    function_id: str
    function_name: str
    handler: str
    code_dir: str
    timeout_s: float
    memory_mb: int
    environment: Mapping[str, str]
    max_concurrency: int = 10
    runtime: str = "python3.11"  # the template's Runtime (AWS_EXECUTION_ENV)
    interpreter: str = sys.executable  # the Python that runs it (see function_env.py)
    interpreter_args: tuple[str, ...] = ()
    python_path: tuple[str, ...] = ()  # after code_dir: requirements, layers, SDK (Lambda's order)
    extra_env: Mapping[str, str] = field(default_factory=dict)  # e.g. PYTHONPATH for `infra`


LogSink = Callable[[str, str], None]


def print_log(function_id: str, line: str) -> None:
    sys.stdout.write(f"[{function_id}] {line}\n")
    sys.stdout.flush()


_LIFELINE_LOCK = threading.Lock()
_LIFELINE: tuple[int, int] | None = None


def _lifeline_fd() -> int:
    """The read end of the pipe every worker watches (worker.py). The write end stays open, in this
    process only (os.pipe's ends are not inherited), until the process exits."""
    global _LIFELINE
    with _LIFELINE_LOCK:
        if _LIFELINE is None:
            _LIFELINE = os.pipe()
        return _LIFELINE[0]


@dataclass(frozen=True)
class Payload:
    """An event encoded for the worker (marshal), in the caller's thread: a Kafka batch of thousands
    of records is encoded there, not on the loop that serves the HTTP API meanwhile."""

    kind: str  # "event", or "kafkaBatch": rows the worker builds the Lambda payload from (events.py)
    data: bytes


def encode_payload(event: Any) -> Payload:
    """Raises ValueError for an event marshal cannot encode (not JSON-like data)."""
    if isinstance(event, KafkaBatch):
        return Payload("kafkaBatch", marshal.dumps(event.wire()))
    return Payload("event", marshal.dumps(event))


_TIMED_OUT = object()  # what a reply future holds when the function's Timeout came first
_NOT_SENT = object()  # the worker's socket was closed at once by the write: nothing was delivered
_MAX_LOG_LINE = 1 << 20  # a longer line without a newline is logged in pieces of this size


class _LogPump(asyncio.Protocol):
    """A worker's stdout and stderr (one socket), line by line into the log sink."""

    def __init__(self, function_id: str, log: LogSink) -> None:
        self._function_id = function_id
        self._log = log
        self._partial = b""

    def data_received(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) >= _MAX_LOG_LINE:
            lines.append(self._partial)
            self._partial = b""
        for raw in lines:
            self._emit(raw)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._partial:
            self._emit(self._partial)

    def _emit(self, raw: bytes) -> None:
        try:
            self._log(self._function_id, raw.decode(errors="replace"))
        except Exception:  # a failing sink must not stop the pump: the worker would block on a full socket
            logger.exception("writing a log line of %s failed", self._function_id)


class _Channel(asyncio.Protocol):
    """The runtime's end of a worker's socket. Frames strictly alternate: the worker's ready frame,
    then a request and its reply, one at a time. A reply is None when the worker exits first."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._decoder = FrameDecoder()
        self._inbox: deque[Any] = deque()  # a frame that came before anyone waited (the ready frame)
        self._reply: asyncio.Future[Any] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        for message in self._decoder.feed(data):
            reply, self._reply = self._reply, None
            if reply is not None and not reply.done():
                reply.set_result(message)
            else:
                self._inbox.append(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reply, self._reply = self._reply, None
        if reply is not None and not reply.done():
            reply.set_result(None)

    async def exchange(self, frame: bytes | None, deadline: float) -> Any:
        """Send `frame` (None: send nothing) and wait for the next frame from the worker until
        `deadline` (loop time): the message, None when the worker exited, _TIMED_OUT, or _NOT_SENT
        when the worker had already gone (a failed write closes the transport at once)."""
        loop = asyncio.get_running_loop()
        if self._inbox:
            return self._inbox.popleft()
        if self.closed or self.transport is None:
            return None if frame is None else _NOT_SENT
        if frame is not None:
            self.transport.write(frame)
            if self.transport.is_closing():
                return _NOT_SENT
        reply = self._reply = loop.create_future()
        timer = loop.call_at(deadline, _time_out, reply)
        try:
            return await reply
        finally:
            timer.cancel()
            self._reply = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _time_out(reply: asyncio.Future[Any]) -> None:
    if not reply.done():
        reply.set_result(_TIMED_OUT)


class _Worker:
    """One execution environment: a worker process, its socket and its log socket (on the loop)."""

    def __init__(
        self, function: FunctionRuntime, process: subprocess.Popen[bytes], channel: _Channel, log: LogSink
    ) -> None:
        self.function = function
        self.process = process
        self.channel = channel
        self.log = log
        self.init_ms: float | None = None  # reported with the first invocation, then None
        self._killed = False

    @classmethod
    async def start(cls, function: FunctionRuntime, env: dict[str, str], log: LogSink) -> _Worker:
        """Start the process and wait for its handler to be imported (raises _InitError)."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        parent, child = socket.socketpair()
        # Its stdout and stderr are a socket too, not a pipe: uvloop closes a pipe's fd, then closes
        # the pipe's file object again, and in between a thread starting another worker can get that
        # fd number and lose it (EBADF); a socket it detaches instead.
        log_parent, log_child = socket.socketpair()
        try:
            # Forking a large process takes milliseconds: not on the loop.
            process = await loop.run_in_executor(
                None, _spawn, function, env, child.fileno(), log_child.fileno()
            )
        except BaseException:
            parent.close()
            log_parent.close()
            raise
        finally:
            child.close()
            log_child.close()
        try:
            await loop.create_unix_connection(lambda: _LogPump(function.function_id, log), sock=log_parent)
            _, channel = await loop.create_unix_connection(_Channel, sock=parent)
        except BaseException:
            parent.close()
            log_parent.close()
            process.kill()
            await loop.run_in_executor(None, process.wait)
            raise
        worker = cls(function, process, channel, log)
        ready = await channel.exchange(None, loop.time() + _INIT_TIMEOUT_S)
        if ready is _TIMED_OUT:
            ready = {"ready": False, "errorType": INIT_ERROR, "errorMessage": "init timed out"}
        if not ready or not ready.get("ready"):
            worker.kill()
            raise _InitError((ready or {}).get("errorMessage", "the worker exited during init"))
        # Lambda's Init Duration covers starting the runtime and importing the handler.
        worker.init_ms = _ms_since(started)
        return worker

    async def invoke(self, payload: Payload, request_id: str) -> InvocationResult:
        timeout = self.function.timeout_s
        started = time.monotonic()
        fid = self.function.function_id
        request: dict[str, Any] = {
            "requestId": request_id,
            "deadlineMs": time.time() * 1000 + timeout * 1000,
            payload.kind: payload.data,
        }
        init_ms = self.init_ms
        if init_ms is not None:
            request["initMs"] = init_ms  # printed on this first invocation's REPORT line
        loop = asyncio.get_running_loop()
        reply = await self.channel.exchange(encode_frame(request, "marshal"), loop.time() + timeout)
        if reply is _NOT_SENT:  # it exited while idle
            self.kill()
            raise _StaleWorker("the worker exited")
        self.init_ms = None
        if reply is _TIMED_OUT:
            self._report_failure(request_id, timeout * 1000, init_ms, "Status: timeout")
            self.kill()
            return InvocationResult.failure(
                fid,
                request_id,
                TIMEOUT_ERROR,
                f"Task timed out after {timeout:.2f} seconds",
                timeout * 1000,
            )
        if reply is None:
            duration = _ms_since(started)
            self._report_failure(request_id, duration, init_ms, f"Status: error\tError Type: {CRASH_ERROR}")
            self.kill()
            return InvocationResult.failure(
                fid, request_id, CRASH_ERROR, "Runtime exited without providing a reason", duration
            )
        duration = reply.get("durationMs")
        if duration is None:
            duration = _ms_since(started)
        if reply.get("ok"):
            return InvocationResult(
                fid, request_id, True, reply.get("payload"), duration_ms=duration, init_duration_ms=init_ms
            )
        return InvocationResult(
            fid,
            request_id,
            False,
            None,
            reply.get("errorType"),
            reply.get("errorMessage"),
            duration,
            init_ms,
        )

    def _report_failure(
        self, request_id: str, duration_ms: float, init_ms: float | None, status: str
    ) -> None:
        """The REPORT line of an invocation the worker could not finish (timed out, crashed): the
        runtime writes it, as Lambda's platform does, with the worker's peak memory if still known."""
        line = report_line(
            request_id, duration_ms, self.function.memory_mb, _peak_rss_mb(self.process.pid), init_ms
        )
        self.log(self.function.function_id, f"{line}\t{status}")

    @property
    def exited(self) -> bool:
        """Killed, or its socket closed (the process exited, noticed as soon as it happens)."""
        return self._killed or self.channel.closed

    def kill(self) -> None:
        """Kill the process (idempotent); it is reaped in a thread, off the loop."""
        if self._killed:
            return
        self._killed = True
        self.channel.close()
        if self.process.poll() is None:
            self.process.kill()
        asyncio.get_running_loop().run_in_executor(None, self.process.wait)


def _spawn(function: FunctionRuntime, env: dict[str, str], fd: int, log_fd: int) -> subprocess.Popen[bytes]:
    lifeline = _lifeline_fd()
    return subprocess.Popen(
        [
            function.interpreter,
            *function.interpreter_args,
            "-u",
            "-m",
            "infra.runtime.worker",
            str(fd),
            str(lifeline),
            function.code_dir,
            function.handler,
            *function.python_path,
        ],
        cwd=function.code_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_fd,
        stderr=subprocess.STDOUT,
        pass_fds=(fd, lifeline),
    )


class _InitError(Exception):
    pass


class _NoEnvironment(Exception):
    """No execution environment became free in time (`_Pool.acquire(wait_s)`)."""


class _StaleWorker(Exception):
    """The worker exited while idle: the request never reached it."""


def _peak_rss_mb(pid: int) -> str:
    """VmHWM of a live process, in MB ("?" once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return str(int(line.split()[1]) // 1024)
    except OSError:
        pass
    return "?"


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


_DURATION_WINDOW = 10_000  # invocations the duration percentiles are taken over (the latest)


class FunctionStats:
    """Per-function figures for `surge local status`: invocations, errors, cold starts, and the
    Duration percentiles (what the REPORT lines say) of the latest invocations. Updated and read on
    the invoker's loop."""

    def __init__(self) -> None:
        self.invocations = 0
        self.errors = 0
        self.cold_starts = 0
        self.durations: deque[float] = deque(maxlen=_DURATION_WINDOW)
        self.init_durations: deque[float] = deque(maxlen=_DURATION_WINDOW)

    def record(self, result: InvocationResult) -> None:
        self.invocations += 1
        self.errors += not result.ok
        self.durations.append(result.duration_ms)
        if result.init_duration_ms is not None:
            self.cold_starts += 1
            self.init_durations.append(result.init_duration_ms)

    def summary(self) -> dict[str, Any]:
        durations = sorted(self.durations)
        inits = sorted(self.init_durations)
        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "cold_starts": self.cold_starts,
            "duration_ms": {
                "p50": percentile(durations, 50),
                "p99": percentile(durations, 99),
                "max": durations[-1] if durations else None,
                "over_last": len(durations),
            },
            "init_duration_ms": {"p50": percentile(inits, 50), "max": inits[-1] if inits else None},
        }


class InvokerClosedError(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the invoker is closed")


class _Pool:
    """The execution environments of one function: reuse idle ones, start more up to the limit.
    Used on the invoker's loop only, so it needs no lock.

    Callers waiting for an environment are served first come, first served: a freed environment (or
    room for a new one) is handed straight to the caller that has waited longest, never left for a
    newcomer to take (requests passed over that way made the HTTP API's p99)."""

    def __init__(self, function: FunctionRuntime, env: dict[str, str], log: LogSink) -> None:
        self.function = function
        self.env = env
        self.log = log
        self.idle: deque[_Worker] = deque()
        self.workers: set[_Worker] = set()  # every live one, idle or busy (killed on close)
        self.count = 0  # environments, including those being started
        self.closed = False
        self._waiting: deque[asyncio.Future[_Worker | None]] = deque()  # turns, oldest first
        self.stats = FunctionStats()

    def _available(self) -> bool:
        return bool(self.idle) or self.count < self.function.max_concurrency

    def _take(self) -> _Worker | None:
        """An idle worker (the most recently used: the warmest), else None with a new one counted."""
        while self.idle:
            worker = self.idle.pop()
            if not worker.exited:
                return worker
            self._forget(worker)  # it exited while idle
        self.count += 1
        return None

    async def acquire(self, wait_s: float | None = None) -> _Worker | None:
        """An idle worker, or None when the caller may start a new one (counted already). With
        `wait_s`, raises _NoEnvironment when none is free by then."""
        if self.closed:
            raise InvokerClosedError
        if not self._waiting and self._available():
            return self._take()
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[_Worker | None] = loop.create_future()
        self._waiting.append(turn)
        timer = None if wait_s is None else loop.call_later(wait_s, self._give_up, turn)
        try:
            return await turn
        except BaseException:
            # Cancelled after its turn came: hand the environment on rather than lose it.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.release(turn.result())
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _give_up(self, turn: asyncio.Future[_Worker | None]) -> None:
        if not turn.done():
            self._waiting.remove(turn)
            turn.set_exception(_NoEnvironment())

    def _serve_waiters(self) -> None:
        while self._waiting:
            turn = self._waiting[0]
            if turn.done():  # cancelled
                self._waiting.popleft()
            elif self.closed:
                self._waiting.popleft().set_exception(InvokerClosedError())
            elif self._available():
                self._waiting.popleft().set_result(self._take())
            else:
                return

    async def start_worker(self) -> _Worker:
        """A new environment for a slot already counted (raises _InitError)."""
        worker = await _Worker.start(self.function, self.env, self.log)
        if self.closed:  # closed while it started
            worker.kill()
            raise InvokerClosedError
        self.workers.add(worker)
        return worker

    def _forget(self, worker: _Worker) -> None:
        self.count -= 1
        self.workers.discard(worker)
        worker.kill()

    def release(self, worker: _Worker | None, result: InvocationResult | None = None) -> None:
        if result is not None:
            self.stats.record(result)
        if worker is None:
            self.count -= 1  # it never started
        elif worker.exited or self.closed:
            self._forget(worker)
        else:
            self.idle.append(worker)
        self._serve_waiters()

    def close(self) -> None:
        """Kill the idle environments and turn away every caller still waiting; the busy ones
        finish their invocation (see `busy`) and are killed when they hand back."""
        self.closed = True
        while self.idle:
            self._forget(self.idle.pop())
        self._serve_waiters()

    @property
    def busy(self) -> int:
        """Environments running (or starting for) an invocation."""
        return self.count - len(self.idle)

    def kill_all(self) -> None:
        for worker in list(self.workers):
            worker.kill()


class WorkerInvoker:
    """Runs each function in its own pool of worker processes, all driven from one event loop.

    Threads call `invoke` (it waits for the loop to run the invocation); code on the loop itself (the
    HTTP API) awaits `invoke_async` instead."""

    def __init__(
        self,
        functions: Mapping[str, FunctionRuntime],
        shared_env: Mapping[str, str] | None = None,
        log: LogSink = print_log,
    ) -> None:
        self._pools = {
            fid: _Pool(f, worker_environment(f, shared_env or {}), log) for fid, f in functions.items()
        }
        self._io = LoopThread("surge-invoker")

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop `invoke_async` must be awaited on."""
        return self._io.loop

    def warm(self, function_id: str, count: int = 1) -> str | None:
        """Initialize `count` execution environments ahead of the first event (provisioned
        concurrency), concurrently. Returns an init error, if the handler cannot be imported
        (invocations will report it too)."""
        return self._io.call(self._warm(function_id, count))

    async def _warm(self, function_id: str, count: int) -> str | None:
        pool = self._pools[function_id]
        slots = [await pool.acquire() for _ in range(min(count, pool.function.max_concurrency))]
        errors: list[str] = []

        async def start(worker: _Worker | None) -> _Worker | None:
            if worker is not None:
                return worker  # already initialized
            try:
                return await pool.start_worker()
            except _InitError as exc:
                errors.append(str(exc))
                return None

        for worker in await asyncio.gather(*(start(slot) for slot in slots)):
            pool.release(worker)
        return errors[0] if errors else None

    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        """Thread-safe; not on the invoker's own loop (await `invoke_async` there)."""
        return self._io.call(self._invoke(function_id, encode_payload(event)))

    async def invoke_async(self, function_id: str, event: Any) -> InvocationResult:
        """`invoke` for coroutines running on `loop`."""
        return await self._invoke(function_id, encode_payload(event))

    async def _invoke(self, function_id: str, payload: Payload) -> InvocationResult:
        pool = self._pools.get(function_id)
        request_id = _request_id()
        if pool is None:
            return InvocationResult.failure(
                function_id,
                request_id,
                "ResourceNotFoundException",
                f"Function not found: {function_id}",
            )
        worker = await pool.acquire()
        return await self._run(pool, worker, payload, request_id)

    async def _run(
        self, pool: _Pool, worker: _Worker | None, payload: Payload, request_id: str
    ) -> InvocationResult:
        """Invoke on `worker` (None: start one first; already counted), then hand it back."""
        function_id = pool.function.function_id
        try:
            if worker is None:
                worker = await pool.start_worker()
            try:
                result = await worker.invoke(payload, request_id)
            except _StaleWorker:  # as Lambda does, start a new execution environment for it
                pool.workers.discard(worker)
                worker = await pool.start_worker()
                result = await worker.invoke(payload, request_id)
        except _InitError as exc:
            result = InvocationResult.failure(function_id, request_id, INIT_ERROR, str(exc))
        except _StaleWorker as exc:
            result = InvocationResult.failure(
                function_id, request_id, CRASH_ERROR, f"Runtime exited without providing a reason ({exc})"
            )
        except BaseException:
            pool.release(worker)
            raise
        pool.release(worker, result)
        return result

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each function's invocations and Duration percentiles (FunctionStats.summary)."""
        if self._io.on_loop():
            return self._stats()
        return self._io.call(self._stats_async())

    def _stats(self) -> dict[str, dict[str, Any]]:
        return {fid: pool.stats.summary() for fid, pool in self._pools.items()}

    async def _stats_async(self) -> dict[str, dict[str, Any]]:
        return self._stats()

    def close(self) -> None:
        """Refuse new invocations, let those running finish for up to `_CLOSE_GRACE_S` (then they are
        killed and report a crash), kill every environment, and stop the loop."""
        self._io.stop(self._close())

    async def _close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        deadline = time.monotonic() + _CLOSE_GRACE_S
        while any(pool.busy for pool in self._pools.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for pool in self._pools.values():
            pool.kill_all()


def _request_id() -> str:
    """A version-4 UUID from `random`: uuid4() reads os.urandom, a syscall per invocation."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def worker_environment(function: FunctionRuntime, shared: Mapping[str, str]) -> dict[str, str]:
    """Lambda's reserved variables, the runtime's endpoints, then the function's own (which win)."""
    region = shared.get("AWS_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"surge/{function.function_id}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": function.code_dir,
            "_HANDLER": function.handler,
            "TZ": ":UTC",
            # No X-Ray daemon runs locally; a template may still turn tracing on explicitly.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "SURGE_FUNCTION_ARN": f"arn:aws:lambda:{region}:000000000000:function:{function.function_name}",
        }
    )
    env.update(function.extra_env)
    env.update(shared)
    env.update(function.environment)
    return env
