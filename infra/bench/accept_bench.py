"""The accept path: `POST /coupons/{id}/issue` and `GET /coupon-requests/{id}` through `surge local up`
(the project's template.yaml) against the least a Python server can do for each (baseline_http.py),
on the same stack, with the same load generator and connections, in one run.

Load generator: wrk (2 threads, 32 keep-alive connections, 2 s timeout), else ApacheBench (`ab -k`,
one thread, the same connections); with neither, the section says so and is skipped.

First the runtime consumes what is already waiting in the template's topics and streams (left by
earlier sections: its event sources start at TRIM_HORIZON), so that backlog is not drained during
the runtime's timed rounds only. Both servers are then warmed on both routes before anything is
timed: the runtime's environments start there (as after any deploy, so no cold start is timed), and
the broker's and DynamoDB Local's JIT compile their hot paths (on a fresh stack that takes the first
~20 s of load, and would handicap whichever server went first). Each server then gets two half
rounds in the order baseline, runtime, runtime, baseline, so that a drift during the run (a growing
backlog, a JIT still at work) weighs on both alike; its figures are over both halves (the p99 is the
worse half's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Endpoints
from infra.bench.report import Report
from infra.runtime_process import RuntimeProcess
from infra.stack.process import free_port

REPO = Path(__file__).resolve().parents[2]
THREADS, CONNECTIONS = 2, 32
TARGET_RATIO, TARGET_P99_MS = 0.6, 100.0
TARGET_DURATION_P50_MS, TARGET_DURATION_P99_MS = 3.0, 15.0
WARM_UP_S = 8.0
CATCH_UP_QUIET_S = 5.0  # longer than any batching window in template.yaml and a stream poll
CATCH_UP_MAX_S = 600.0
READ_ID = "00000000-0000-4000-8000-000000000000"  # no outcome: both answer 202 PENDING after a GetItem

_WRK_SCRIPT = """
local threads = {}
local n = 0
function setup(thread) table.insert(threads, thread) end
function init(args) other = 0 end
function request()
  n = n + 1
  if wrk.method == "POST" then
    return wrk.format(nil, nil, {["Content-Type"] = "application/json"},
      '{"userId":"bench-' .. n .. '-' .. math.random(1, 1000000000) .. '"}')
  end
  return wrk.format()
end
function response(status, headers, body)
  if status ~= 202 then other = other + 1 end
end
function done(summary, latency, requests)
  local others = 0
  for _, t in ipairs(threads) do others = others + t:get("other") end
  io.write(string.format('RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"timeouts":%d,"errors":%d,"non_202":%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write, others))
end
"""


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    timeouts: int
    errors: int
    non_202: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def and_then(self, other: Load) -> Load:
        """Two rounds as one: counts added, p50 averaged by requests, the worse p99."""
        requests = self.requests + other.requests
        p50 = (self.p50_ms * self.requests + other.p50_ms * other.requests) / requests if requests else 0.0
        return Load(
            requests,
            self.seconds + other.seconds,
            p50,
            max(self.p99_ms, other.p99_ms),
            self.timeouts + other.timeouts,
            self.errors + other.errors,
            self.non_202 + other.non_202,
        )


def load_generator() -> str | None:
    for name in ("wrk", "ab"):
        if shutil.which(name):
            return name
    return None


def run_load(tool: str, url: str, method: str, seconds: float, scratch: Path) -> Load:
    if tool == "wrk":
        script = scratch / f"{method.lower()}.lua"
        script.write_text(f'wrk.method = "{method}"\n' + _WRK_SCRIPT)
        wrk_args = [f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "--timeout", "2s"]
        done = subprocess.run(
            ["wrk", *wrk_args, "-s", str(script), url], capture_output=True, text=True, check=False
        )
        found = re.search(r"^RESULT (\{.*\})$", done.stdout, re.M)
        if not found:
            raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
        return Load(**json.loads(found.group(1)))
    return _run_ab(url, method, seconds, scratch)


def _run_ab(url: str, method: str, seconds: float, scratch: Path) -> Load:
    """ApacheBench: one body for every POST (the API accepts a user's repeated requests)."""
    command = ["ab", "-k", "-q", "-c", str(CONNECTIONS), "-t", f"{seconds:.0f}", "-n", "10000000", "-s", "2"]
    if method == "POST":
        body = scratch / "body.json"
        body.write_text(json.dumps({"userId": "bench-ab"}))
        command += ["-p", str(body), "-T", "application/json"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    out = done.stdout

    def number(pattern: str, default: float = 0.0) -> float:
        match = re.search(pattern, out, re.M)
        return float(match.group(1)) if match else default

    requests = int(number(r"^Complete requests:\s+(\d+)"))
    return Load(
        requests=requests,
        seconds=number(r"^Time taken for tests:\s+([\d.]+)"),
        p50_ms=number(r"^\s+50%\s+(\d+)"),
        p99_ms=number(r"^\s+99%\s+(\d+)"),
        timeouts=0,  # ab stops at its first timeout (-s) rather than counting them
        errors=int(number(r"^Failed requests:\s+(\d+)")),
        non_202=int(number(r"^Non-2xx responses:\s+(\d+)")),
    )


def section(endpoints: Endpoints, report: Report, args: argparse.Namespace) -> None:
    tool = load_generator()
    if tool is None:
        print("  no load generator: install wrk (apt-get install -y wrk) or ab (apache2-utils)", flush=True)
        report.add("accept", "skipped: no load generator (wrk or ab) on PATH", 0, "")
        return
    seconds = max(10.0, 20.0 * args.scale)
    print(
        f"  load generator: {_describe(tool)}; {WARM_UP_S:.0f} s warm-up per server and route, then"
        f" {seconds:.0f} s per server and route in two halves (baseline, runtime, runtime, baseline)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="surge-accept-") as tmp:
        scratch = Path(tmp)
        # Each condition runs both routes against both servers, under the same conditions for both:
        # the baselines publish to the template's topic, so the issuer drains their records too, or
        # drains nobody's ("paused" measures the accept path alone).
        conditions = [
            (
                "issuer draining",
                "the runtime's issuer consumes coupon.issue-requested during every round, baselines' included",
                REPO / "template.yaml",
            ),
            (
                "issuer paused",
                "the issuer's event source is disabled (Enabled: false) and nothing consumes"
                " coupon.issue-requested, for either server",
                issuer_paused_template(scratch),
            ),
        ]
        for condition, meaning, template in conditions:
            print(f"  {condition}: {meaning}", flush=True)
            _measure(endpoints, report, tool, seconds, template, condition, scratch)


def issuer_paused_template(scratch: Path) -> Path:
    """template.yaml with the issuer's Kafka event source disabled, everything else as deployed."""
    text = (REPO / "template.yaml").read_text()
    source = "            ConsumerGroupId: coupon-issuer\n"
    code = "    CodeUri: functions/\n"
    if text.count(source) != 1 or text.count(code) != 1:
        raise RuntimeError("template.yaml changed shape: update accept_bench.issuer_paused_template")
    text = text.replace(source, source + "            Enabled: false\n")
    text = text.replace(code, f"    CodeUri: {REPO / 'functions'}/\n")  # the copy lives elsewhere
    path = scratch / "template-issuer-paused.yaml"
    path.write_text(text)
    return path


def _measure(
    endpoints: Endpoints,
    report: Report,
    tool: str,
    seconds: float,
    template: Path,
    condition: str,
    scratch: Path,
) -> None:
    state = scratch / condition.replace(" ", "-")
    runtime = RuntimeProcess(template, state, endpoints=endpoints)
    baselines: list[subprocess.Popen[bytes]] = []
    try:
        runtime.start()
        _report_catch_up(*catch_up(runtime))
        table = "surge-coupons"  # the template's CouponsTable (`${AWS::StackName}-coupons`)
        coupon = f"accept-{uuid.uuid4().hex[:8]}"
        _post(
            runtime.url + "/coupons",
            {"name": "accept bench", "totalQuantity": 1_000_000, "couponId": coupon},
        )
        issue_port, read_port = free_port(), free_port()
        kafka = endpoints.require_kafka()
        baselines.append(_baseline(["issue", "--kafka", kafka], issue_port, endpoints, state))
        baselines.append(_baseline(["read", "--table", table], read_port, endpoints, state))
        routes = [
            (name, method, path, f"http://127.0.0.1:{port}{path}", runtime.url + path)
            for name, method, path, port in (
                ("issue", "POST", f"/coupons/{coupon}/issue", issue_port),
                ("read", "GET", f"/coupon-requests/{READ_ID}", read_port),
            )
        ]
        for _name, method, _path, base_url, surge_url in routes:  # the runtime's environments start here
            run_load(tool, base_url, method, WARM_UP_S, state)
            run_load(tool, surge_url, method, WARM_UP_S, state)
        half = seconds / 2
        for name, method, path, base_url, surge_url in routes:
            base_first = run_load(tool, base_url, method, half, state)
            surge = run_load(tool, surge_url, method, half, state)
            surge = surge.and_then(run_load(tool, surge_url, method, half, state))
            base = base_first.and_then(run_load(tool, base_url, method, half, state))
            label = f"{method} {path.replace(coupon, '{id}').replace(READ_ID, '{id}')}"
            _record(report, f"[{condition}] baseline {name} server", base)
            _record(report, f"[{condition}] surge local up: {label}", surge)
            report.ratio(
                "accept", f"[{condition}] {name}: runtime / baseline", surge.rate, base.rate, TARGET_RATIO
            )
            _function_durations(report, runtime.status(), condition, name, surge.requests)
    finally:
        for process in baselines:
            process.terminate()
            process.wait(timeout=10)
        runtime.stop()


def catch_up(runtime: RuntimeProcess) -> tuple[int, float, bool]:
    """Let the runtime consume what is already waiting in the template's topics and streams before
    anything is timed. Its event sources start at TRIM_HORIZON, with new consumer groups and stream
    checkpoints for a new state directory, so what earlier bench sections (or runs) left there would
    otherwise be drained during the timed rounds, on the runtime's side only. Done once no event
    source has invoked its function for CATCH_UP_QUIET_S; returns (batches, seconds, settled)."""
    started = time.monotonic()
    batches = _batches_invoked(runtime.status())
    quiet_since = started
    while time.monotonic() - started < CATCH_UP_MAX_S:
        time.sleep(0.5)
        now = _batches_invoked(runtime.status())
        if now != batches:
            batches, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= CATCH_UP_QUIET_S:
            return batches, quiet_since - started, True
    return batches, time.monotonic() - started, False


def _batches_invoked(status: dict[str, Any]) -> int:
    return sum(int(source.get("batches_invoked") or 0) for source in (status.get("sources") or {}).values())


def _report_catch_up(batches: int, seconds: float, settled: bool) -> None:
    if not settled:
        print(
            f"  still catching up after {seconds:.0f} s ({batches:,} batches): the figures include it",
            flush=True,
        )
    elif batches:
        print(
            f"  caught up first: {batches:,} batches already waiting in the template's topics and streams, {seconds:.0f} s",
            flush=True,
        )
    else:
        print("  nothing waiting in the template's topics and streams", flush=True)


def _describe(tool: str) -> str:
    if tool == "wrk":
        return f"wrk, {THREADS} threads, {CONNECTIONS} connections, 2 s timeout"
    return f"ab -k (wrk not found), {CONNECTIONS} connections"


def _record(report: Report, name: str, load: Load) -> None:
    verdict = "meets" if load.p99_ms <= TARGET_P99_MS else "BELOW"
    failures = load.timeouts + load.errors + load.non_202
    note = (
        f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms (target <= {TARGET_P99_MS:.0f}: {verdict}); "
        f"timeouts {load.timeouts}, errors {load.errors}, non-202 {load.non_202}"
        + ("" if failures == 0 else " (target 0: BELOW)")
    )
    report.add("accept", name, load.rate, "req/s", note)


def _function_durations(
    report: Report, status: dict[str, Any], condition: str, route: str, route_requests: int
) -> None:
    """The API function's Duration percentiles, taken right after one route's timed rounds: the
    runtime keeps them over the latest invocations, which are then that route's (its window must not
    reach back into the other route's rounds, so the note says when it does)."""
    stats = (status.get("functions") or {}).get("CouponApiFunction") or {}
    duration = stats.get("duration_ms") or {}
    window = duration.get("over_last") or 0
    from_route = "all" if window <= route_requests else f"only {route_requests}"
    source = f"REPORT lines of the last {window} invocations, {from_route} from the {route} rounds"
    for pct, target in (("p50", TARGET_DURATION_P50_MS), ("p99", TARGET_DURATION_P99_MS)):
        value = duration.get(pct)
        if value is None:
            continue
        verdict = "meets" if value <= target else "BELOW"
        report.add(
            "accept",
            f"[{condition}] CouponApiFunction warm Duration {pct}, {route}",
            value,
            "ms",
            f"target <= {target:g} ({verdict}); {source}",
        )


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _baseline(args: list[str], port: int, endpoints: Endpoints, scratch: Path) -> subprocess.Popen[bytes]:
    from infra.stack.clients import local_credentials_env

    env = {**os.environ, **endpoints.as_env(), **local_credentials_env()}
    with open(scratch / f"baseline-{args[0]}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.bench.baseline_http", *args, "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if b"ready" not in line:
        process.kill()
        raise RuntimeError(f"the {args[0]} baseline server did not start (see {log.name})")
    return process
