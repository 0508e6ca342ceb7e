"""Fire a fixed list of HTTP requests from N keep-alive connections and record every outcome.

Bounded by construction: each request is sent once (no retry loops), and the target must be a
loopback address.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from infra.loadgen.progress import Progress, elapsed_since

_LOOPBACK = ("127.", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    tag: Any = None  # caller's own bookkeeping (e.g. the user id)


@dataclass(frozen=True)
class Outcome:
    request: Request
    status: int  # 0: no HTTP answer (connection error)
    latency_ms: float
    body: Any


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def by_status(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return dict(sorted(counts.items()))

    def latency_percentile(self, pct: float, status: int | None = None) -> float:
        values = sorted(o.latency_ms for o in self.outcomes if status is None or o.status == status)
        if not values:
            return 0.0
        return values[min(len(values) - 1, round(pct / 100 * (len(values) - 1)))]


def run_load(
    base_url: str, requests: list[Request], concurrency: int = 64, label: str = "requests"
) -> LoadResult:
    parts = urlsplit(base_url)
    if not (parts.hostname or "").startswith(_LOOPBACK):
        raise ValueError(f"load is only sent to loopback addresses, not {base_url}")
    pending: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
    for request in requests:
        pending.put(request)
    for _ in range(concurrency):
        pending.put(None)
    result = LoadResult()
    lock = threading.Lock()
    started = time.monotonic()

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        while (request := pending.get()) is not None:
            outcome = _send(connection, request)
            if outcome.status == 0:
                connection.close()
                connection = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port or 80, timeout=30
                )
            with lock:
                result.outcomes.append(outcome)
        connection.close()

    def render() -> str:
        done = len(result.outcomes)
        seconds = elapsed_since(started)
        return (
            f"  {label}: {done:,}/{len(requests):,} sent  {done / seconds:,.0f}/s  "
            f"statuses {result.by_status()}"
        )

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    with Progress(render):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    result.seconds = time.monotonic() - started
    return result


def _send(connection: http.client.HTTPConnection, request: Request) -> Outcome:
    body = json.dumps(request.body).encode() if request.body is not None else None
    headers = {"content-type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    try:
        connection.request(request.method, request.path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(request, 0, (time.perf_counter() - started) * 1000, {"error": str(exc)})
    latency = (time.perf_counter() - started) * 1000
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Outcome(request, status, latency, parsed)
