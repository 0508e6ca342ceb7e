"""Admission: one step per concert whenever it is due, and the loop one scheduled invocation runs.

EventBridge fires at most once a minute while intervals may be a second long, so one invocation a
minute runs for most of that minute and takes every step that falls due inside it. A step is recorded
with a condition on the concert's walk position and version, so two admitters (an invocation that ran
long, a redeployment) never admit for the same positions twice: the loser re-reads and walks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.observability import logger
from waiting_room.errors import Conflict
from waiting_room.logic.admission import plan_step, step_window
from waiting_room.models.items import Admission

if TYPE_CHECKING:
    from waiting_room.dal.concerts_repo import ConcertRepository
    from waiting_room.dal.entries_repo import EntryRepository

WALK_SLACK = 50  # extra entries read per step, so a few skipped ones do not cost another query
# Entries one step may walk. Each silent user costs a conditional write, so without a bound one step
# over thousands of abandoned entries ran for ~25 s on DynamoDB Local while no other concert's step
# could run. A bounded step commits how far it got and the next one (0.1 s later) goes on from there.
MAX_WALK_PER_STEP = 250
MAX_STEP_ATTEMPTS = 5


@dataclass
class StepResult:
    admitted: int = 0
    abandoned: int = 0
    skipped_left: int = 0
    reason: str = ""


class Admitter:
    def __init__(
        self,
        concerts: ConcertRepository,
        entries: EntryRepository,
        *,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._concerts = concerts
        self._entries = entries
        self._now_ms = now_ms

    def step(self, concert_id: str) -> StepResult:
        for _ in range(MAX_STEP_ATTEMPTS):
            try:
                return self._try_step(concert_id)
            except Conflict:
                continue
        return StepResult(reason="contended")

    def _try_step(self, concert_id: str) -> StepResult:
        concert = self._concerts.get(concert_id)
        if concert is None:
            return StepResult(reason="gone")
        now_ms = self._now_ms()
        window = step_window(concert, now_ms)
        if window.capacity == 0:
            return StepResult(reason=window.reason)
        settings = concert.settings
        result = StepResult(reason="due")
        next_position = concert.next_position
        admitted: list[int] = []
        first = next_position
        # Walk until `capacity` are admitted; abandoned and left entries cost a read, never a slot.
        while (
            len(admitted) < window.capacity
            and next_position <= concert.last_position
            and next_position - first < MAX_WALK_PER_STEP
        ):
            walk_budget = MAX_WALK_PER_STEP - (next_position - first)
            candidates = self._entries.walk(
                concert_id, next_position, min(window.capacity - len(admitted) + WALK_SLACK, walk_budget)
            )
            if not candidates:
                break
            plan = plan_step(candidates, window.capacity - len(admitted), settings.heartbeat_seconds, now_ms)
            cutoff = now_ms - settings.heartbeat_seconds * 1000
            for entry in plan.abandon:
                if not self._entries.mark_abandoned(entry, cutoff):
                    raise Conflict("an entry polled while being abandoned")  # walk again, it is live
            result.abandoned += len(plan.abandon) + plan.abandoned_before
            result.skipped_left += plan.skipped_left
            admitted.extend(e.position for e in plan.admit)
            next_position = plan.last_walked + 1
        if next_position == concert.next_position:
            return StepResult(reason="nothing visible yet")
        # The interval and the sessions run from the commit, when users become active: a slow walk (a
        # cold start, many abandoned entries to mark) must not shorten the gap to the next step.
        committed_ms = self._now_ms()
        admission = None
        if admitted:
            seq = concert.admission_seq + 1
            until = committed_ms + settings.session_seconds * 1000
            admission = Admission(seq, first, next_position - 1, len(admitted), until)
        self._concerts.commit_admission(
            concert, admission, next_position, result.abandoned, result.skipped_left, committed_ms
        )
        result.admitted = len(admitted)
        if admitted or result.abandoned:
            logger.info(
                "admission step",
                extra={
                    "concertId": concert_id,
                    "admitted": result.admitted,
                    "abandoned": result.abandoned,
                    "servingPosition": next_position - 1,
                },
            )
        return result

    def run(
        self, seconds: float, *, tick: float = 0.1, sleep: Callable[[float], None] = time.sleep
    ) -> dict[str, int]:
        """Take every step that falls due during `seconds`; returns totals for the invocation's log."""
        totals = {"steps": 0, "admitted": 0, "abandoned": 0}
        deadline = time.monotonic() + seconds
        concert_ids: list[str] = []
        listed_at = -1e9
        while time.monotonic() < deadline:
            if time.monotonic() - listed_at > 5:
                concert_ids, listed_at = self._concerts.list_ids(), time.monotonic()
            for concert_id in concert_ids:
                outcome = self.step(concert_id)
                if outcome.admitted or outcome.abandoned:
                    totals["steps"] += 1
                    totals["admitted"] += outcome.admitted
                    totals["abandoned"] += outcome.abandoned
            sleep(tick)
        return totals
