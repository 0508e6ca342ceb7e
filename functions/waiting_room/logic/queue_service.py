"""The queue API's use cases: concerts, entering, polling, leaving, completing, token minting."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from common import correlation
from common.ports import Publisher
from common.types import utc_now
from waiting_room.errors import ConcertNotFound, Conflict
from waiting_room.logic.status import EntryView, entry_view
from waiting_room.models.api import PutConcertRequest
from waiting_room.models.events import EntryRequested
from waiting_room.models.items import AliasItem, ConcertItem, EntryItem, QueueSettings
from waiting_room.models.types import ENDED, EntryState, EntryStatus, concert_of

if TYPE_CHECKING:
    from waiting_room.dal.concerts_repo import ConcertRepository
    from waiting_room.dal.entries_repo import EntryRepository

JSON_HEADERS = (("content-type", b"application/json"),)


class SeatCreator(Protocol):
    def create_seats(self, concert_id: str, seat_ids: Sequence[str]) -> int: ...


# (concertId, userId, entryId, position, expires_ms) -> a signed token
TokenMinter = Callable[[str, str, str, int, int], str]


class EntryNotFound(Exception):
    pass


class WrongStatus(Exception):
    """The entry is not in a status that allows the action (409 while waiting, 410 once ended)."""

    def __init__(self, status: EntryStatus, position: int | None) -> None:
        super().__init__(f"entry is {status.value}")
        self.status = status
        self.position = position


@dataclass(frozen=True)
class Entered:
    entry_id: str
    view: EntryView | None  # None: accepted, not positioned yet


class QueueService:
    def __init__(
        self,
        concerts: ConcertRepository,
        entries: EntryRepository,
        seats: SeatCreator,
        publisher: Publisher,
        entry_topic: str,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._concerts = concerts
        self._entries = entries
        self._seats = seats
        self._publisher = publisher
        self._topic = entry_topic
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock().timestamp() * 1000)

    def put_concert(self, concert_id: str, request: PutConcertRequest) -> tuple[ConcertItem, bool]:
        settings = QueueSettings(
            admit_per_interval=request.admitPerInterval,
            interval_seconds=request.intervalSeconds,
            max_active=request.maxActive,
            session_seconds=request.sessionSeconds,
            heartbeat_seconds=request.heartbeatSeconds,
            opens_at=request.opensAt,
        )
        seat_ids = request.seat_ids()
        # Seats first: a concert is visible only once its seats exist (adding seats is idempotent).
        self._seats.create_seats(concert_id, seat_ids)
        created = self._concerts.put(concert_id, request.name, settings, len(seat_ids), self._clock())
        concert = self._concerts.get(concert_id)
        assert concert is not None
        return concert, created

    def get_concert(self, concert_id: str) -> ConcertItem:
        concert = self._concerts.get(concert_id)
        if concert is None:
            raise ConcertNotFound(concert_id)
        return concert

    def set_paused(self, concert_id: str, paused: bool) -> ConcertItem:
        return self._concerts.set_paused(concert_id, paused)

    def enter(self, concert_id: str, user_id: str, correlation_id: str | None) -> Entered:
        """A user with a live entry gets it back (no new record); otherwise the request is published
        (key = concertId: one concert's entries keep the broker's order) and answered once acked."""
        concert, current = self._entries.read_user_entry(concert_id, user_id)
        if concert is None:
            raise ConcertNotFound(concert_id)
        if current is not None:
            view = entry_view(current, concert, self._now_ms())
            if view.status not in ENDED:
                return Entered(current.entry_id, view)
        entry_id = f"{concert_id}.{uuid.uuid4().hex}"
        event = EntryRequested(
            entryId=entry_id, concertId=concert_id, userId=user_id, requestedAt=self._clock()
        )
        headers = JSON_HEADERS + correlation.kafka_header(correlation_id)
        self._publisher.publish(self._topic, concert_id.encode(), event.model_dump_json().encode(), headers)
        return Entered(entry_id, None)

    def _resolve(self, entry_id: str) -> tuple[EntryItem | None, ConcertItem | None]:
        found, concert = self._entries.read_for_poll(entry_id, concert_of(entry_id))
        if isinstance(found, AliasItem):  # the rare race of two first entries: the alias names the entry
            canonical = self._entries.get_entry(found.alias_of)
            return (canonical if isinstance(canonical, EntryItem) else None), concert
        return found, concert

    def poll(self, entry_id: str) -> tuple[str, EntryView] | None:
        """The entry's status (None while not positioned); a poll is the waiting user's heartbeat."""
        entry, concert = self._resolve(entry_id)
        if entry is None or concert is None:
            return None
        now_ms = self._now_ms()
        view = entry_view(entry, concert, now_ms)
        heartbeat_ms = concert.settings.heartbeat_seconds * 1000
        # Write the heartbeat only when it is a quarter of the allowance old: polls stay mostly read-only.
        if (
            view.status in (EntryStatus.WAITING, EntryStatus.ACTIVE)
            and now_ms - entry.last_seen_ms > heartbeat_ms / 4
        ):
            self._entries.touch(entry.entry_id, now_ms)
        return entry.entry_id, view

    def end(self, entry_id: str, state: EntryState) -> EntryView:
        """Leave (LEFT: waiting or active) or complete (COMPLETED: active only)."""
        for _ in range(5):
            entry, concert = self._resolve(entry_id)
            if entry is None or concert is None:
                raise EntryNotFound(entry_id)
            view = entry_view(entry, concert, self._now_ms())
            try:
                if view.status is EntryStatus.WAITING and state is EntryState.LEFT:
                    self._entries.end_waiting(entry, state)
                elif view.status is EntryStatus.ACTIVE and view.admission_seq is not None:
                    self._entries.end_active(entry, state, view.admission_seq)
                else:
                    raise WrongStatus(view.status, entry.position)
            except Conflict:
                continue  # admission reached it, or a session ended meanwhile: decide again
            return EntryView(EntryStatus(state.value), entry.position)
        raise RuntimeError(f"entry {entry_id}: kept racing")

    def token(self, entry_id: str, mint: TokenMinter) -> tuple[str, int]:
        """The entry's access token: minted once (a conditional write), the same on every call."""
        entry, concert = self._resolve(entry_id)
        if entry is None or concert is None:
            raise EntryNotFound(entry_id)
        view = entry_view(entry, concert, self._now_ms())
        if view.status is not EntryStatus.ACTIVE or view.active_until_ms is None:
            raise WrongStatus(view.status, entry.position)
        if entry.token is not None and entry.token_expires_ms is not None:
            return entry.token, entry.token_expires_ms
        minted = mint(entry.concert_id, entry.user_id, entry.entry_id, entry.position, view.active_until_ms)
        stored = self._entries.set_token(entry.entry_id, minted, view.active_until_ms)
        return stored, view.active_until_ms
