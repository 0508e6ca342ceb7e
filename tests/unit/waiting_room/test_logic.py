"""The waiting room's pure rules: positions, the admission step, an entry's derived status."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from waiting_room.logic.admission import plan_step, step_window
from waiting_room.logic.positions import plan_group
from waiting_room.logic.status import entry_view
from waiting_room.models.events import EntryRequested
from waiting_room.models.items import Admission, ConcertItem, EntryItem, QueueSettings, UserPointer
from waiting_room.models.types import EntryState, EntryStatus

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)
SETTINGS = QueueSettings(
    admit_per_interval=2,
    interval_seconds=10,
    max_active=3,
    session_seconds=60,
    heartbeat_seconds=30,
    opens_at=None,
)


def concert(**changes) -> ConcertItem:
    return replace(ConcertItem("c1", "Concert", SETTINGS, 10, T0), **changes)


def request(user: str) -> EntryRequested:
    return EntryRequested(entryId=f"c1.{uuid.uuid4().hex}", concertId="c1", userId=user, requestedAt=T0)


def entry(
    position: int, state: EntryState = EntryState.POSITIONED, seen_ms: int = MS0, user: str = ""
) -> EntryItem:
    return EntryItem(f"c1.{position:032x}", "c1", user or f"u{position}", position, state, T0, T0, seen_ms)


def test_positions_follow_record_order_and_continue_the_counter():
    requests = [(request(u), None) for u in ("a", "b", "c")]
    plan = plan_group(concert(last_position=7), requests, {}, {}, lambda e: True, T0)
    assert [n.entry.position for n in plan.new_entries] == [8, 9, 10]
    assert [n.entry.user_id for n in plan.new_entries] == ["a", "b", "c"]
    assert not plan.aliases


def test_a_user_entering_twice_gets_one_position_and_an_alias():
    first, second = request("a"), request("a")
    plan = plan_group(concert(), [(first, None), (second, None)], {}, {}, lambda e: True, T0)
    assert [n.entry.entry_id for n in plan.new_entries] == [first.entryId]
    [alias] = plan.aliases
    assert (alias.entry_id, alias.alias_of) == (second.entryId, first.entryId)


def test_redelivered_requests_change_nothing():
    done = request("a")
    existing = {done.entryId: entry(1, user="a")}
    plan = plan_group(concert(last_position=1), [(done, None)], existing, {}, lambda e: True, T0)
    assert not plan.has_writes and plan.already_done == 1


def test_a_live_entry_makes_a_new_request_an_alias_and_an_ended_one_lets_the_user_back_in():
    old = replace(entry(1, user="a"), entry_id="c1." + "1" * 32)
    pointer = {"a": UserPointer("c1", "a", old.entry_id)}
    live = plan_group(
        concert(last_position=1), [(request("a"), None)], {old.entry_id: old}, pointer, lambda e: True, T0
    )
    assert [a.alias_of for a in live.aliases] == [old.entry_id] and not live.new_entries
    ended = plan_group(
        concert(last_position=1), [(request("a"), None)], {old.entry_id: old}, pointer, lambda e: False, T0
    )
    [again] = ended.new_entries
    assert again.entry.position == 2 and again.replaces == old.entry_id


def test_step_window_pacing_capacity_pause_and_opening():
    assert step_window(concert(last_position=5), MS0).capacity == 2
    assert step_window(concert(last_position=5, paused=True), MS0).reason == "paused"
    later = replace(SETTINGS, opens_at=T0 + timedelta(minutes=1))
    assert step_window(concert(last_position=5, settings=later), MS0).reason == "not open"
    # The previous admitting step was 9.9 s ago with M = 10 s: not yet.
    assert step_window(concert(last_position=5, last_admission_ms=MS0 - 9_900), MS0).reason == "interval"
    assert step_window(concert(last_position=5, last_admission_ms=MS0 - 10_000), MS0).capacity == 2
    # Two active of three: room for one; a session that ended does not count; ended-early frees a slot.
    busy = {1: Admission(1, 1, 2, 2, MS0 + 1)}
    assert step_window(concert(last_position=5, next_position=3, admissions=busy), MS0).capacity == 1
    full = {1: Admission(1, 1, 3, 3, MS0 + 1)}
    assert step_window(concert(last_position=5, next_position=4, admissions=full), MS0).reason == "full"
    freed = {1: Admission(1, 1, 3, 3, MS0 + 1, ended=1)}
    assert step_window(concert(last_position=5, next_position=4, admissions=freed), MS0).capacity == 1
    over = {1: Admission(1, 1, 3, 3, MS0)}
    assert step_window(concert(last_position=5, next_position=4, admissions=over), MS0).capacity == 2


def test_step_skips_left_and_abandons_silent_users_without_spending_slots():
    silent = MS0 - 31_000
    candidates = [
        entry(1, EntryState.LEFT),
        entry(2, seen_ms=silent),
        entry(3),
        entry(4, EntryState.ABANDONED),
        entry(5),
        entry(6),
    ]
    plan = plan_step(candidates, capacity=2, heartbeat_seconds=30, now_ms=MS0)
    assert [e.position for e in plan.admit] == [3, 5]
    assert [e.position for e in plan.abandon] == [2]
    assert plan.skipped_left == 1 and plan.abandoned_before == 1 and plan.last_walked == 5


def test_status_is_derived_from_the_concert_admissions():
    admissions = {4: Admission(4, 3, 5, 3, MS0 + 60_000)}
    c = concert(last_position=9, next_position=6, admissions=admissions)
    waiting = entry_view(entry(8), c, MS0)
    assert (waiting.status, waiting.ahead, waiting.serving_position) == (EntryStatus.WAITING, 2, 5)
    assert waiting.estimated_wait_seconds == 20  # 3 to go at 2 per 10 s: two intervals
    active = entry_view(entry(4), c, MS0)
    assert (
        active.status is EntryStatus.ACTIVE
        and active.active_until_ms == MS0 + 60_000
        and active.admission_seq == 4
    )
    assert entry_view(entry(4), c, MS0 + 60_000).status is EntryStatus.EXPIRED
    assert entry_view(entry(2), c, MS0).status is EntryStatus.EXPIRED  # its admission was dropped
    assert entry_view(entry(4, EntryState.LEFT), c, MS0).status is EntryStatus.LEFT
