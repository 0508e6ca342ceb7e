"""What the DAL reads and writes, as typed values (the DAL maps them to DynamoDB items)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from waiting_room.models.types import EntryState


@dataclass(frozen=True)
class QueueSettings:
    admit_per_interval: int
    interval_seconds: int
    max_active: int
    session_seconds: int
    heartbeat_seconds: int
    opens_at: datetime | None


@dataclass(frozen=True)
class Admission:
    """One admission step: positions first..last were walked; `admitted` of them became active until
    `until_ms`; `ended` of those left or completed early."""

    seq: int
    first: int
    last: int
    admitted: int
    until_ms: int
    ended: int = 0


@dataclass(frozen=True)
class ConcertItem:
    concert_id: str
    name: str
    settings: QueueSettings
    seat_count: int
    created_at: datetime
    paused: bool = False
    last_position: int = 0  # positions 1..last_position are taken
    next_position: int = 1  # admission has walked every position below this one
    last_admission_ms: int = 0
    admission_seq: int = 0
    admissions: dict[int, Admission] = field(default_factory=dict)
    admitted_count: int = 0
    abandoned_count: int = 0
    left_waiting: int = 0  # left while still ahead of admission, not yet walked over
    left_count: int = 0
    left_active_count: int = 0
    completed_count: int = 0
    version: int = 0  # bumped by every leave of a waiting entry; admission commits only on an unchanged one

    def active_count(self, now_ms: int) -> int:
        return sum(a.admitted - a.ended for a in self.admissions.values() if a.until_ms > now_ms)

    def admission_of(self, position: int) -> Admission | None:
        return next((a for a in self.admissions.values() if a.first <= position <= a.last), None)


@dataclass(frozen=True)
class EntryItem:
    entry_id: str
    concert_id: str
    user_id: str
    position: int
    state: EntryState
    requested_at: datetime
    positioned_at: datetime
    last_seen_ms: int
    correlation_id: str | None = None
    token: str | None = None
    token_expires_ms: int | None = None


@dataclass(frozen=True)
class AliasItem:
    """A second entry request of a user who already had a live entry: it stands for that entry."""

    entry_id: str
    alias_of: str
    concert_id: str
    user_id: str


@dataclass(frozen=True)
class UserPointer:
    """The user's latest entry for a concert: what makes a second live entry impossible (a condition)."""

    concert_id: str
    user_id: str
    entry_id: str
