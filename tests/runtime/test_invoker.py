"""The worker invoker: isolated environments, Lambda context, failures that never stop the runtime."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.runtime.invoker import (
    CRASH_ERROR,
    INIT_ERROR,
    MARSHAL_ERROR,
    TIMEOUT_ERROR,
    InvocationResult,
)
from infra.runtime.workers import FunctionRuntime, WorkerInvoker

CODE = str(Path(__file__).parent / "functions")


def _fn(fid: str, handler: str, timeout: float = 5, env: dict | None = None, concurrency: int = 4):
    return FunctionRuntime(fid, f"surge-{fid}", handler, CODE, timeout, 256, env or {}, concurrency)


@pytest.fixture
def invoker():
    lines: list[tuple[str, str]] = []
    functions = {
        "Echo": _fn("Echo", "probe.echo", env={"PROBE_OWN": "echo"}),
        "Other": _fn("Other", "probe.echo", env={"ONLY_IN_OTHER_FUNCTION": "secret"}),
        "Fail": _fn("Fail", "probe.fail"),
        "Sleep": _fn("Sleep", "probe.sleep", timeout=1),
        "Crash": _fn("Crash", "probe.crash"),
        "ExitSoon": _fn("ExitSoon", "probe.exit_soon", concurrency=1),
        "NotJson": _fn("NotJson", "probe.not_json"),
        "Missing": _fn("Missing", "probe.nope"),
    }
    inv = WorkerInvoker(
        functions, {"SHARED_ENDPOINT": "http://x"}, log=lambda f, line: lines.append((f, line))
    )
    inv.lines = lines  # type: ignore[attr-defined]
    yield inv
    inv.close()


def wait_for_line(invoker, predicate, timeout: float = 15) -> bool:
    """A worker's output reaches the log through a reader thread, a moment after the invocation's result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(predicate(fid, line) for fid, line in list(invoker.lines)):
            return True
        time.sleep(0.05)
    return False


def test_event_context_and_environment_reach_the_handler(invoker):
    result = invoker.invoke("Echo", {"hello": "wörld"})
    assert result.ok, result
    payload = result.payload
    assert payload["event"] == {"hello": "wörld"}
    assert payload["env"]["PROBE_OWN"] == "echo"
    assert payload["env"]["SHARED_ENDPOINT"] == "http://x"
    assert payload["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "surge-Echo"
    assert payload["context"]["function_name"] == "surge-Echo"
    assert payload["context"]["request_id"] == result.request_id
    assert payload["context"]["memory"] == "256"
    assert 0 < payload["context"]["remaining_ms"] <= 5000


def test_environment_never_leaks_between_functions(invoker):
    assert invoker.invoke("Other", {}).payload["leaked"] == "secret"
    assert invoker.invoke("Echo", {}).payload["leaked"] is None


def test_worker_is_reused_between_invocations(invoker):
    first = invoker.invoke("Echo", {}).payload["pid"]
    assert invoker.invoke("Echo", {}).payload["pid"] == first


def test_concurrent_invocations_run_in_separate_environments(invoker):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoker.invoke("Sleep", {"seconds": 0.5}), range(4)))
    assert all(r.ok for r in results)


def test_an_exception_is_a_failed_invocation_with_its_message(invoker):
    result = invoker.invoke("Fail", {"why": "poison"})
    assert not result.ok
    assert result.error_type == "ValueError"
    assert "poison" in result.error_message
    assert result.function_error == "Unhandled"
    assert wait_for_line(invoker, lambda _, line: "ValueError" in line)


def test_running_past_timeout_fails_and_the_next_call_works(invoker):
    result = invoker.invoke("Sleep", {"seconds": 3})
    assert not result.ok and result.error_type == TIMEOUT_ERROR
    assert "timed out after 1.00 seconds" in result.error_message
    assert invoker.invoke("Sleep", {"seconds": 0}).ok


def test_a_crashing_handler_costs_only_its_worker(invoker):
    assert invoker.invoke("Crash", {}).error_type == CRASH_ERROR
    assert invoker.invoke("Echo", {}).ok


def test_an_environment_that_died_while_idle_is_replaced_not_reported(invoker):
    """The request never reached the dead worker: a fresh one runs it, as Lambda starts a new
    execution environment; the invocation is not a failure."""
    first = invoker.invoke("ExitSoon", {})
    assert first.ok, first
    time.sleep(0.6)  # the worker exits meanwhile
    second = invoker.invoke("ExitSoon", {})
    assert second.ok, second
    assert second.payload["pid"] != first.payload["pid"]


def test_warm_initializes_the_provisioned_environments_at_once(invoker):
    """Provisioned concurrency: N environments are initialized before the first event, so N
    concurrent invocations find them warm (distinct, already running processes)."""
    assert invoker.warm("Echo", 3) is None
    warmed = {worker.process.pid for worker in invoker._pools["Echo"].idle}
    assert len(warmed) == 3
    with ThreadPoolExecutor(3) as pool:
        pids = set(pool.map(lambda _: invoker.invoke("Echo", {}).payload["pid"], range(3)))
    assert pids <= warmed
    assert "nope" in (invoker.warm("Missing", 2) or "")


def test_unserializable_response_and_missing_handler_are_errors(invoker):
    assert invoker.invoke("NotJson", {}).error_type == MARSHAL_ERROR
    missing = invoker.invoke("Missing", {})
    assert missing.error_type == INIT_ERROR and "nope" in missing.error_message


def test_logs_are_prefixed_with_the_function(invoker):
    invoker.invoke("Fail", {})
    assert wait_for_line(invoker, lambda _, line: "ValueError" in line)
    assert {fid for fid, _ in invoker.lines} == {"Fail"}


REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d\d) ms"
    r"\tBilled Duration: (?P<billed>\d+) ms\tMemory Size: 256 MB\tMax Memory Used: (?P<used>\d+) MB"
    r"(?:\tInit Duration: (?P<init>\d+\.\d\d) ms)?(?P<rest>.*)$"
)


def _reports(invoker, fid: str, request_id: str) -> list[re.Match]:
    assert wait_for_line(invoker, lambda f, line: f == fid and request_id in line and "REPORT" in line)
    found = [REPORT.match(line) for f, line in list(invoker.lines) if f == fid and line.startswith("REPORT")]
    return [m for m in found if m is not None and m["id"] == request_id]


def test_each_invocation_prints_lambdas_report_line_init_duration_on_the_cold_start_only(invoker):
    cold = invoker.invoke("Echo", {})
    warm = invoker.invoke("Echo", {})
    assert cold.init_duration_ms is not None and cold.init_duration_ms > 0
    assert warm.init_duration_ms is None
    (first,) = _reports(invoker, "Echo", cold.request_id)
    (second,) = _reports(invoker, "Echo", warm.request_id)
    assert first["init"] is not None and second["init"] is None
    assert float(first["init"]) == pytest.approx(cold.init_duration_ms, abs=0.01)
    # Lambda bills the duration rounded up to the millisecond, and the init of a cold start.
    assert int(first["billed"]) == math.ceil(float(first["duration"]) + float(first["init"]))
    assert int(second["billed"]) == math.ceil(float(second["duration"]))
    assert float(second["duration"]) == pytest.approx(warm.duration_ms, abs=0.01)
    assert 10 < int(second["used"]) < 1024
    assert first["rest"] == second["rest"] == ""


def test_a_failed_invocation_has_a_report_line_too(invoker):
    failed = invoker.invoke("Fail", {})
    assert _reports(invoker, "Fail", failed.request_id)
    timed_out = invoker.invoke("Sleep", {"seconds": 3})
    (report,) = _reports(invoker, "Sleep", timed_out.request_id)
    assert report["duration"] == "1000.00" and report["rest"] == "\tStatus: timeout"


def test_stats_count_invocations_and_give_duration_percentiles(invoker):
    for seconds in (0, 0, 0, 0.2):
        assert invoker.invoke("Sleep", {"seconds": seconds}).ok
    invoker.invoke("Fail", {})
    stats = invoker.stats()
    sleep, fail = stats["Sleep"], stats["Fail"]
    assert (sleep["invocations"], sleep["errors"], sleep["cold_starts"]) == (4, 0, 1)
    assert (fail["invocations"], fail["errors"]) == (1, 1)
    assert sleep["duration_ms"]["p50"] < 50
    assert 200 <= sleep["duration_ms"]["p99"] < 1000
    assert stats["Echo"]["invocations"] == 0 and stats["Echo"]["duration_ms"]["p50"] is None


def test_code_on_the_invokers_loop_awaits_invoke_async_and_may_not_block_on_invoke(invoker):
    """The HTTP API runs on the invoker's own loop: it awaits `invoke_async`. A blocking `invoke`
    there would wait for the loop it blocks, so it is refused with a message saying what to do."""

    async def on_the_loop() -> tuple[InvocationResult, str]:
        result = await invoker.invoke_async("Echo", {"x": 1})
        try:
            invoker.invoke("Echo", {})
        except RuntimeError as exc:
            return result, str(exc)
        return result, ""

    result, refusal = asyncio.run_coroutine_threadsafe(on_the_loop(), invoker.loop).result(30)
    assert result.ok and result.payload["event"] == {"x": 1}
    assert "await" in refusal
    assert invoker.stats()["Echo"]["invocations"] == 1


def test_close_lets_a_running_invocation_finish_and_refuses_new_ones():
    invoker = WorkerInvoker({"Sleep": _fn("Sleep", "probe.sleep", timeout=5)}, log=lambda f, line: None)
    invoker.warm("Sleep", 1)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoker.invoke, "Sleep", {"seconds": 0.5})
        time.sleep(0.2)
        invoker.close()
        assert running.result(10).ok
    with pytest.raises(RuntimeError, match=r"stopped|closed"):
        invoker.invoke("Sleep", {"seconds": 0})


_RUNTIME_WITH_A_BUSY_WORKER = """
import sys, threading
from infra.runtime.workers import FunctionRuntime, WorkerInvoker
code, pid_file = sys.argv[1], sys.argv[2]
hang = FunctionRuntime("Hang", "surge-Hang", "probe.hang", code, 300, 256, {"HANG_PID_FILE": pid_file}, 1)
invoker = WorkerInvoker({"Hang": hang}, {})
threading.Thread(target=invoker.invoke, args=("Hang", {"seconds": 120})).start()
threading.Event().wait()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has exited


def test_an_environment_in_mid_invocation_exits_with_the_runtime_even_when_killed(tmp_path):
    """`surge local up` killed (SIGKILL: no clean-up runs) while a function is busy: its worker must
    not outlive it, or it keeps writing to the tables with nobody watching."""
    pid_file = tmp_path / "worker.pid"
    runtime = subprocess.Popen(
        [sys.executable, "-c", _RUNTIME_WITH_A_BUSY_WORKER, CODE, str(pid_file)],
        cwd=Path(__file__).parents[2],
    )
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the worker never started its invocation"
            assert runtime.poll() is None, "the runtime exited early"
            time.sleep(0.05)
        worker_pid = int(pid_file.read_text())
        assert _alive(worker_pid)
        runtime.kill()
        runtime.wait()
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker_pid), "the busy worker outlived its runtime"
    finally:
        runtime.kill()
        runtime.wait()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
