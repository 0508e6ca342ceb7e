"""A simulated audience for the waiting room: users who poll their entry (the heartbeat), and once
active take a token, hold seats, and complete or leave early; plus a sampler of the queue's counters.

Bounded by construction: every loop stops at its deadline or when told to; loopback only.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_LOOPBACK = ("127.", "localhost")


@dataclass
class Behaviour:
    poll_every: float = 3.0
    complete_share: float = 0.3  # of users seen active, finish at once (free their slot early)
    leave_share: float = 0.1
    take_token: bool = False
    seats_to_hold: int = 0  # per active user, with the token
    seat_ids: list[str] = field(default_factory=list)


@dataclass
class AudienceLog:
    ever_active: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)  # entryId -> token
    holds: list[dict[str, Any]] = field(default_factory=list)  # 201 bodies
    hold_statuses: dict[int, int] = field(default_factory=dict)
    hold_refusals: dict[str, int] = field(default_factory=dict)  # "<status> <message>" -> count
    rounds: list[float] = field(default_factory=list)  # seconds one thread took to poll all its users once
    polls: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if not (parts.hostname or "").startswith(_LOOPBACK):
        raise ValueError(f"the audience only talks to loopback addresses, not {url}")
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)


def call(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"} if body is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    return response.status, json.loads(raw) if raw else {}


class Audience:
    """Each thread owns a slice of the users and polls each of them every `poll_every` seconds."""

    def __init__(
        self,
        url: str,
        concert_id: str,
        entries: list[str],
        behaviour: Behaviour,
        threads: int | None = None,
        seed: int = 1,
    ) -> None:
        # A thread polls its users one after another: ~25 each keeps a round well inside a heartbeat.
        threads = threads or max(10, -(-len(entries) // 25))
        self.url = url
        self.concert_id = concert_id
        self.behaviour = behaviour
        self.log = AudienceLog()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(entries[i::threads], seed + i), daemon=True)
            for i in range(threads)
        ]

    def start(self) -> Audience:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, entries: list[str], seed: int) -> None:
        conn = _connection(self.url)
        rng = random.Random(seed)
        done: set[str] = set()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                for entry in entries:
                    if entry in done or self._stop.is_set():
                        continue
                    if self._visit(conn, entry, rng):
                        done.add(entry)
                took = time.monotonic() - started
                with self.log.lock:
                    self.log.rounds.append(took)
                self._stop.wait(max(0.0, self.behaviour.poll_every - took))
        except (OSError, http.client.HTTPException) as exc:
            with self.log.lock:
                self.log.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _visit(self, conn: http.client.HTTPConnection, entry: str, rng: random.Random) -> bool:
        """One poll and what the user does next; True once the user is done."""
        status, body = call(conn, "GET", f"/queue-entries/{entry}")
        with self.log.lock:
            self.log.polls += 1
        if status != 200:
            return False
        if body["status"] != "ACTIVE":
            return body["status"] != "WAITING"
        with self.log.lock:
            self.log.ever_active.add(entry)
        b = self.behaviour
        if b.take_token and entry not in self.log.tokens:
            status, minted = call(conn, "POST", f"/queue-entries/{entry}/token")
            if status == 200:
                with self.log.lock:
                    self.log.tokens[entry] = minted["token"]
                self._hold_seats(conn, minted["token"], rng)
        roll = rng.random()
        if roll < b.complete_share:
            if call(conn, "POST", f"/queue-entries/{entry}/complete")[0] == 200:
                with self.log.lock:
                    self.log.completed.add(entry)
            return True
        if roll < b.complete_share + b.leave_share:
            if call(conn, "DELETE", f"/queue-entries/{entry}")[0] == 200:
                with self.log.lock:
                    self.log.left.add(entry)
            return True
        return False

    def _hold_seats(self, conn: http.client.HTTPConnection, token: str, rng: random.Random) -> None:
        seats = self.behaviour.seat_ids
        for seat in rng.sample(seats, min(self.behaviour.seats_to_hold, len(seats))):
            status, body = call(conn, "POST", f"/concerts/{self.concert_id}/seats/{seat}/hold", {}, token)
            with self.log.lock:
                self.log.hold_statuses[status] = self.log.hold_statuses.get(status, 0) + 1
                if status == 201:
                    self.log.holds.append(body)
                else:
                    why = f"{status} {body.get('message', '') if isinstance(body, dict) else ''}".strip()
                    self.log.hold_refusals[why] = self.log.hold_refusals.get(why, 0) + 1


class Sampler:
    """GET /concerts/{id}/queue every `every` seconds: (t, active, admitted, abandoned, waiting)."""

    def __init__(self, url: str, concert_id: str, every: float = 0.5) -> None:
        self.url = url
        self.concert_id = concert_id
        self.every = every
        self.samples: list[tuple[float, dict[str, Any]]] = []  # (answered at, counters)
        self.sent_at: list[float] = []  # when the request of each sample was sent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = 0.0

    def start(self) -> Sampler:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = _connection(self.url)
        try:
            while not self._stop.is_set():
                sent = time.monotonic() - self.t0
                status, body = call(conn, "GET", f"/concerts/{self.concert_id}/queue")
                if status == 200:
                    self.sent_at.append(sent)
                    self.samples.append((time.monotonic() - self.t0, body))
                self._stop.wait(self.every)
        finally:
            conn.close()


def pacing_violations(sampler: Sampler, per_interval: int, interval: float) -> list[str]:
    """Samples showing more admitted than N per M allows. The first step happened after the last sample
    that showed none was sent, so by the time a sample was answered at most N * (1 + elapsed // M) can
    have been admitted; sample latency under load never makes a paced queue look unpaced."""
    zero_sent = [
        sent for sent, (_, s) in zip(sampler.sent_at, sampler.samples, strict=True) if s["admitted"] == 0
    ]
    if not zero_sent:
        return []  # no sample before the first admission: nothing to measure pacing from
    start = zero_sent[-1]
    return [
        f"admitted {s['admitted']} at {t:.1f}s"
        for t, s in sampler.samples
        if t >= start and s["admitted"] > per_interval * (int((t - start) // interval) + 1)
    ]
