"""Deciding a concert group of entry requests: new positions, aliases, or nothing to do (pure).

Positions are handed out in record order, which is the partition's offset order (records are keyed by
concertId, so one concert's entries share one partition and arrive in the order the broker accepted
them). A user has at most one live entry per concert: a request from a user whose entry is still live
(waiting or active) becomes an alias of it; after the entry ended (left, completed, abandoned,
expired), the user may enter again at the back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from waiting_room.models.events import EntryRequested
from waiting_room.models.items import AliasItem, ConcertItem, EntryItem, UserPointer
from waiting_room.models.plans import GroupPlan, NewEntry
from waiting_room.models.types import EntryState


def plan_group(
    concert: ConcertItem,
    requests: Sequence[tuple[EntryRequested, str | None]],
    existing: Mapping[str, EntryItem | AliasItem],
    pointers: Mapping[str, UserPointer],
    is_live: Callable[[EntryItem], bool],
    now: datetime,
) -> GroupPlan:
    """`requests` in record order with each record's correlation id; `existing` holds the entry items
    already written for any of the requests' entry ids and for the users' pointed-to entries."""
    plan = GroupPlan()
    live_by_user: dict[str, str] = {}
    for user_id, pointer in pointers.items():
        current = existing.get(pointer.entry_id)
        if isinstance(current, EntryItem) and is_live(current):
            live_by_user[user_id] = current.entry_id
    position = concert.last_position
    seen: set[str] = set()
    now_ms = int(now.timestamp() * 1000)
    for request, correlation_id in requests:
        if request.entryId in existing or request.entryId in seen:
            plan.already_done += 1
            continue
        seen.add(request.entryId)
        live = live_by_user.get(request.userId)
        if live is not None:
            plan.aliases.append(AliasItem(request.entryId, live, request.concertId, request.userId))
            continue
        position += 1
        previous = pointers.get(request.userId)
        entry = EntryItem(
            entry_id=request.entryId,
            concert_id=request.concertId,
            user_id=request.userId,
            position=position,
            state=EntryState.POSITIONED,
            requested_at=request.requestedAt,
            positioned_at=now,
            # A waiting user's heartbeat clock starts when they are positioned.
            last_seen_ms=now_ms,
            correlation_id=correlation_id,
        )
        plan.new_entries.append(NewEntry(entry, previous.entry_id if previous else None))
        live_by_user[request.userId] = request.entryId
    return plan
