"""`WorkerInvoker`: each function runs in its own pool of worker processes (see invoker.py)."""

from __future__ import annotations

import math
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from infra.runtime.invoker import CRASH_ERROR, INIT_ERROR, TIMEOUT_ERROR, InvocationResult
from infra.runtime.kafka.events import KafkaBatch
from infra.runtime.wire import recv_frame, send_frame
from infra.stats import percentile

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


class _Worker:
    def __init__(self, function: FunctionRuntime, env: dict[str, str], log: LogSink) -> None:
        parent, child = socket.socketpair()
        lifeline = _lifeline_fd()
        started = time.monotonic()
        self.function = function
        self.log = log
        self.init_ms: float | None = None  # reported with the first invocation, then None
        self.sock = parent
        self.process = subprocess.Popen(
            [
                function.interpreter,
                *function.interpreter_args,
                "-u",
                "-m",
                "infra.runtime.worker",
                str(child.fileno()),
                str(lifeline),
                function.code_dir,
                function.handler,
                *function.python_path,
            ],
            cwd=function.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(child.fileno(), lifeline),
        )
        child.close()
        assert self.process.stdout is not None
        threading.Thread(
            target=_pump, args=(self.process.stdout, function.function_id, log), daemon=True
        ).start()
        self.sock.settimeout(_INIT_TIMEOUT_S)
        try:
            ready = recv_frame(self.sock)
        except TimeoutError:
            ready = {"ready": False, "errorType": INIT_ERROR, "errorMessage": "init timed out"}
        if not ready or not ready.get("ready"):
            self.kill()
            message = (ready or {}).get("errorMessage", "the worker exited during init")
            raise _InitError(message)
        # Lambda's Init Duration covers starting the runtime and importing the handler.
        self.init_ms = _ms_since(started)

    def invoke(self, event: Any, request_id: str) -> InvocationResult:
        timeout = self.function.timeout_s
        started = time.monotonic()
        deadline_ms = time.time() * 1000 + timeout * 1000
        fid = self.function.function_id
        request: dict[str, Any] = {"requestId": request_id, "deadlineMs": deadline_ms}
        init_ms = self.init_ms
        if init_ms is not None:
            request["initMs"] = init_ms  # printed on this first invocation's REPORT line
        if isinstance(event, KafkaBatch):
            request["kafkaBatch"] = event.wire()  # the worker builds the payload (events.py)
        else:
            request["event"] = event
        self.sock.settimeout(timeout)
        try:
            send_frame(self.sock, request, codec="marshal")
        except OSError as exc:  # it exited while idle: nothing was delivered
            self.kill()
            raise _StaleWorker(str(exc)) from exc
        self.init_ms = None
        try:
            reply = recv_frame(self.sock)
        except TimeoutError:
            self._report_failure(request_id, timeout * 1000, init_ms, "Status: timeout")
            self.kill()
            return InvocationResult.failure(
                fid,
                request_id,
                TIMEOUT_ERROR,
                f"Task timed out after {timeout:.2f} seconds",
                timeout * 1000,
            )
        except OSError as exc:
            reply = None
            error = str(exc)
        else:
            error = "the worker exited"
        if reply is None:
            duration = _ms_since(started)
            self._report_failure(request_id, duration, init_ms, f"Status: error\tError Type: {CRASH_ERROR}")
            self.kill()
            return InvocationResult.failure(
                fid, request_id, CRASH_ERROR, f"Runtime exited without providing a reason ({error})", duration
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
        billed = math.ceil(duration_ms + (init_ms or 0.0))
        peak = _peak_rss_mb(self.process.pid)
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms"
            f"\tMemory Size: {self.function.memory_mb} MB\tMax Memory Used: {peak} MB"
        )
        if init_ms is not None:
            line += f"\tInit Duration: {init_ms:.2f} ms"
        self.log(self.function.function_id, f"{line}\t{status}")

    @property
    def killed(self) -> bool:
        """Killed after a timeout or crash. A worker that exits while idle is noticed by its next
        invocation (`_StaleWorker`), without a waitpid per invocation: every syscall a batch thread
        makes hands the interpreter lock back and forth with the Kafka poll thread."""
        return self.sock.fileno() == -1

    def kill(self) -> None:
        self.sock.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class _InitError(Exception):
    pass


class _NoEnvironment(Exception):
    """No execution environment became free in time (`_Pool.acquire(wait_s)`)."""


class _StaleWorker(Exception):
    """The worker exited while idle: the request never reached it."""


def _pump(stream: IO[bytes], function_id: str, log: LogSink) -> None:
    for raw in stream:
        log(function_id, raw.decode(errors="replace").rstrip("\n"))


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
    Duration percentiles (what the REPORT lines say) of the latest invocations. Updated under the
    pool's lock, which each invocation takes anyway."""

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


class _Pool:
    """The execution environments of one function: reuse idle ones, start more up to the limit.

    Callers waiting for an environment are served first come, first served: each waits on a turn of
    its own, and a caller that arrives while others wait queues behind them. (With one shared
    condition, a new arrival could take an environment freed for a waiter, and the waiter went back
    to the end of the queue: requests passed over that way made the HTTP API's p99.)"""

    def __init__(self, function: FunctionRuntime, env: dict[str, str], log: LogSink) -> None:
        self.function = function
        self.env = env
        self.log = log
        self.idle: deque[_Worker] = deque()
        self.count = 0
        self.closed = False
        self.lock = threading.Lock()
        self._waiting: deque[threading.Condition] = deque()  # turns, oldest first
        self.stats = FunctionStats()

    def _available(self) -> bool:
        return self.closed or bool(self.idle) or self.count < self.function.max_concurrency

    def _take(self) -> _Worker | None:
        if self.closed:
            raise RuntimeError("the invoker is closed")
        if self.idle:
            return self.idle.pop()  # the most recently used: the warmest
        self.count += 1
        return None

    def acquire(self, wait_s: float | None = None) -> _Worker | None:
        """An idle worker, or None when the caller may start a new one (counted already). With
        `wait_s`, raises _NoEnvironment when none is free by then."""
        with self.lock:
            if not self._waiting and self._available():
                return self._take()
            deadline = None if wait_s is None else time.monotonic() + wait_s
            turn = threading.Condition(self.lock)
            self._waiting.append(turn)
            try:
                while self._waiting[0] is not turn or not self._available():
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise _NoEnvironment
                    turn.wait(left)
                return self._take()
            finally:
                self._waiting.remove(turn)
                self._wake_next()

    def _wake_next(self) -> None:
        if self._waiting and self._available():
            self._waiting[0].notify()

    def release(self, worker: _Worker | None, result: InvocationResult | None = None) -> None:
        with self.lock:
            if result is not None:
                self.stats.record(result)
            if worker is not None and not worker.killed and not self.closed:
                self.idle.append(worker)
            else:
                self.count -= 1
                if worker is not None:
                    worker.kill()
            self._wake_next()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            while self.idle:
                self.idle.pop().kill()
            self._wake_next()  # each waiter in turn finds the pool closed, raises and wakes the next


class WorkerInvoker:
    def __init__(
        self,
        functions: Mapping[str, FunctionRuntime],
        shared_env: Mapping[str, str] | None = None,
        log: LogSink = print_log,
    ) -> None:
        self._pools = {
            fid: _Pool(f, worker_environment(f, shared_env or {}), log) for fid, f in functions.items()
        }

    def warm(self, function_id: str, count: int = 1) -> str | None:
        """Initialize `count` execution environments ahead of the first event (provisioned
        concurrency), concurrently. Returns an init error, if the handler cannot be imported
        (invocations will report it too)."""
        pool = self._pools[function_id]
        slots = [pool.acquire() for _ in range(min(count, pool.function.max_concurrency))]
        errors: list[str] = []

        def start(worker: _Worker | None) -> _Worker | None:
            if worker is not None:
                return worker  # already initialized
            try:
                return _Worker(pool.function, pool.env, pool.log)
            except _InitError as exc:
                errors.append(str(exc))
                return None

        with ThreadPoolExecutor(len(slots)) as starter:
            for worker in list(starter.map(start, slots)):
                pool.release(worker)
        return errors[0] if errors else None

    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        pool = self._pools.get(function_id)
        request_id = _request_id()
        if pool is None:
            return InvocationResult.failure(
                function_id,
                request_id,
                "ResourceNotFoundException",
                f"Function not found: {function_id}",
            )
        return self._run(pool, pool.acquire(), event, request_id)

    def invoke_within(self, function_id: str, event: Any, within_s: float) -> InvocationResult | None:
        """Invoke in the caller's thread when the invocation is sure to end within `within_s` (an
        environment frees up in time and the function's Timeout, plus an init if one must start, fits);
        else None, and nothing ran: the caller invokes its own way (the HTTP API then runs it on a thread
        of its own, so that it can answer at the integration timeout while the invocation goes on).
        Saves a thread and two hand-offs per request when, as usual, the Timeout is the shorter."""
        pool = self._pools.get(function_id)
        if pool is None:
            return None
        budget = within_s - pool.function.timeout_s - 1.0  # a second for the hand-offs around it
        if budget <= 0:
            return None
        try:
            worker = pool.acquire(budget)
        except _NoEnvironment:
            return None
        if worker is None and budget <= _INIT_TIMEOUT_S:  # a cold start could outlast the budget
            pool.release(None)
            return None
        return self._run(pool, worker, event, _request_id())

    def _run(self, pool: _Pool, worker: _Worker | None, event: Any, request_id: str) -> InvocationResult:
        """Invoke on `worker` (None: start one first; already counted), then hand it back."""
        function_id = pool.function.function_id
        try:
            if worker is None:
                worker = _Worker(pool.function, pool.env, pool.log)
            try:
                result = worker.invoke(event, request_id)
            except _StaleWorker:  # as Lambda does, start a new execution environment for it
                worker = _Worker(pool.function, pool.env, pool.log)
                result = worker.invoke(event, request_id)
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
        summaries = {}
        for fid, pool in self._pools.items():
            with pool.lock:
                summaries[fid] = pool.stats.summary()
        return summaries

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()


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
