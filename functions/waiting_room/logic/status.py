"""What an entry's status is right now, derived from the entry and its concert (no writes, no queries).

Admission never touches the entries it admits: a step records on the concert item which positions it
walked and until when they are active. So an entry at position p is
- WAITING while admission has not reached it (p >= nextPosition),
- ACTIVE while the step that walked it is within its session, EXPIRED after,
- LEFT, COMPLETED or ABANDONED when its own state says so (a user's action, or admission skipping it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from waiting_room.models.items import ConcertItem, EntryItem
from waiting_room.models.types import EntryState, EntryStatus

_STORED_END = {
    EntryState.LEFT: EntryStatus.LEFT,
    EntryState.COMPLETED: EntryStatus.COMPLETED,
    EntryState.ABANDONED: EntryStatus.ABANDONED,
}


@dataclass(frozen=True)
class EntryView:
    status: EntryStatus
    position: int
    ahead: int | None = None
    serving_position: int | None = None
    estimated_wait_seconds: int | None = None
    active_until_ms: int | None = None
    admission_seq: int | None = None


def entry_view(entry: EntryItem, concert: ConcertItem, now_ms: int) -> EntryView:
    if entry.state in _STORED_END:
        return EntryView(_STORED_END[entry.state], entry.position)
    serving = concert.next_position - 1
    if entry.position > serving:
        ahead = entry.position - concert.next_position
        settings = concert.settings
        intervals = math.ceil((ahead + 1) / settings.admit_per_interval)
        return EntryView(
            EntryStatus.WAITING,
            entry.position,
            ahead=ahead,
            serving_position=serving,
            estimated_wait_seconds=intervals * settings.interval_seconds,
        )
    admission = concert.admission_of(entry.position)
    if admission is not None and admission.until_ms > now_ms:
        return EntryView(
            EntryStatus.ACTIVE,
            entry.position,
            active_until_ms=admission.until_ms,
            admission_seq=admission.seq,
        )
    return EntryView(EntryStatus.EXPIRED, entry.position)
