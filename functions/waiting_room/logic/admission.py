"""One admission step for one concert (pure): who among the next waiting entries becomes active.

Admission walks entries in position order from `nextPosition`, skips the ones that left, marks waiting
users who have not polled for `heartbeatSeconds` as abandoned, and admits live ones until it has
min(N, maxActive - active) of them. The step is recorded on the concert item only (positions walked,
admitted count, session end), so its cost is the entries it walks, never the length of the queue.

Pacing: a step admits at most N, and a step that admitted anyone is at least M seconds after the
previous one, whenever and however often admission runs; a step that finds no capacity records
nothing, so a slot freed by a leaving user is used at the next check rather than the next interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from waiting_room.models.items import ConcertItem, EntryItem
from waiting_room.models.types import EntryState


@dataclass(frozen=True)
class StepWindow:
    """Whether a step may run now, and how many it may admit."""

    capacity: int
    reason: str  # "due" or why not


def step_window(concert: ConcertItem, now_ms: int) -> StepWindow:
    settings = concert.settings
    if concert.paused:
        return StepWindow(0, "paused")
    if settings.opens_at is not None and now_ms < int(settings.opens_at.timestamp() * 1000):
        return StepWindow(0, "not open")
    if concert.last_admission_ms and now_ms < concert.last_admission_ms + settings.interval_seconds * 1000:
        return StepWindow(0, "interval")
    if concert.next_position > concert.last_position:
        return StepWindow(0, "nobody waiting")
    room = settings.max_active - concert.active_count(now_ms)
    if room <= 0:
        return StepWindow(0, "full")
    return StepWindow(min(settings.admit_per_interval, room), "due")


@dataclass
class StepPlan:
    admit: list[EntryItem] = field(default_factory=list)
    abandon: list[EntryItem] = field(default_factory=list)
    skipped_left: int = 0  # LEFT entries walked over (they were counted in leftWaiting)
    # ABANDONED already: marked by an earlier attempt of this step whose commit did not happen (only a
    # walk marks abandonment, and a committed walk is behind nextPosition), so not counted yet.
    abandoned_before: int = 0
    last_walked: int = 0  # highest position walked (0: none)


def plan_step(candidates: list[EntryItem], capacity: int, heartbeat_seconds: int, now_ms: int) -> StepPlan:
    """`candidates` are consecutive positions from nextPosition on. Stops once `capacity` are admitted."""
    plan = StepPlan()
    cutoff = now_ms - heartbeat_seconds * 1000
    for entry in candidates:
        if len(plan.admit) >= capacity:
            break
        plan.last_walked = entry.position
        if entry.state is EntryState.LEFT:
            plan.skipped_left += 1
        elif entry.state is EntryState.ABANDONED:
            plan.abandoned_before += 1
        elif entry.last_seen_ms < cutoff:
            plan.abandon.append(entry)
        else:
            plan.admit.append(entry)
    return plan
