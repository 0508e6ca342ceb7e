"""Seat availability, holds and releases, gated by the waiting room's access token. No boto3 here.

A hold needs a valid token for the seat's concert (401/403 from `Tokens.verify`) whose queue entry is
still active (`SessionGate`, 403 otherwise). The user's slot is chosen from one Query of their slots:
the first free one is tried; if another of their requests took it meanwhile, the slots are read again.
What makes double holds and over-limit holds impossible is the DAL's transaction, not this choice.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Protocol

from common.types import utc_now
from waiting_room.logic.tokens import TokenClaims, TokenRejected, Tokens
from waiting_room.models.seats import (
    Hold,
    HoldCancelled,
    HoldConflict,
    HoldSlot,
    HoldStatus,
    Seat,
    SeatView,
)

# Each attempt is one transaction; only races (a slot taken by the same user's parallel request, a seat
# freed between the transaction and the re-read, TransactionConflict) lead to another one.
MAX_ATTEMPTS = 6


class SessionGate(Protocol):
    def is_active(self, entry_id: str, concert_id: str, now: datetime) -> bool:
        """Whether queue entry `entry_id` of `concert_id` is in an active session at `now` (not left,
        completed, expired or abandoned). The waiting room's entries decide."""
        ...


class SeatStore(Protocol):
    def list_seats(self, concert_id: str) -> list[Seat]: ...

    def get_seat(self, concert_id: str, seat_id: str) -> Seat | None: ...

    def hold_slots(self, concert_id: str, user_id: str) -> list[HoldSlot]: ...

    def create_hold(self, hold: Hold, now_ms: int) -> None:
        """Raise HoldCancelled naming the failed conditions."""
        ...

    def get_hold(self, hold_id: str) -> Hold | None: ...

    def release_hold(self, hold: Hold, now_ms: int) -> None:
        """Raise HoldCancelled when the hold is no longer live."""
        ...

    def expire_hold(self, hold: Hold, now_ms: int) -> bool: ...

    def expired_holds(self, now_ms: int) -> Iterator[Hold]: ...


class SeatError(Exception):
    """A refusal the API answers with `status`."""

    status: int = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, **extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class SeatNotFound(SeatError):
    status = HTTPStatus.NOT_FOUND


class SeatUnavailable(SeatError):
    status = HTTPStatus.CONFLICT


class HoldLimitReached(SeatError):
    status = HTTPStatus.TOO_MANY_REQUESTS


class HoldNotFound(SeatError):
    status = HTTPStatus.NOT_FOUND


class NotHolder(SeatError):
    status = HTTPStatus.FORBIDDEN


class SeatsBusy(SeatError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Availability:
    concert_id: str
    seats: list[tuple[str, SeatView]]

    def count(self, view: SeatView) -> int:
        return sum(1 for _, seat_view in self.seats if seat_view is view)


def seat_order(seat_id: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order ("2" before "10"), then the others alphabetically."""
    return (0, int(seat_id)) if seat_id.isdigit() else (1, seat_id)


class SeatService:
    def __init__(
        self,
        store: SeatStore,
        tokens: Callable[[], Tokens],
        gate: SessionGate,
        *,
        issuer: str,
        hold_seconds: int,
        max_seats_per_user: int,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._gate = gate
        self._issuer = issuer
        self._hold_seconds = hold_seconds
        self._max_seats = max_seats_per_user
        self._clock = clock
        self._new_id = new_id
        self._sleep = sleep

    def verify(self, token: str | None, concert_id: str, now: datetime) -> TokenClaims:
        return self._tokens().verify(token, self._issuer, concert_id, now)

    def availability(self, concert_id: str, token: str | None) -> Availability:
        """Every seat of the concert with its state. Needs a valid token for the concert (no gate read:
        availability is advisory, the hold decides)."""
        now = self._clock()
        self.verify(token, concert_id, now)
        seats = self._store.list_seats(concert_id)
        if not seats:
            raise SeatNotFound(f"concert {concert_id!r} has no seats")
        now_ms = to_ms(now)
        listed = sorted(((s.seat_id, s.view(now_ms)) for s in seats), key=lambda pair: seat_order(pair[0]))
        return Availability(concert_id, listed)

    def hold(self, concert_id: str, seat_id: str, token: str | None) -> Hold:
        now = self._clock()
        claims = self.verify(token, concert_id, now)
        if not self._gate.is_active(claims.entry_id, concert_id, now):
            raise TokenRejected(HTTPStatus.FORBIDDEN, "the queue entry of this token is no longer active")
        now_ms = to_ms(now)
        for attempt in range(MAX_ATTEMPTS):
            slot = self._free_slot(self._store.hold_slots(concert_id, claims.user_id), now_ms)
            if slot is None:
                raise HoldLimitReached(
                    f"at most {self._max_seats} live holds per user", maxSeatsPerUser=str(self._max_seats)
                )
            hold = Hold(
                hold_id=self._new_id(),
                concert_id=concert_id,
                seat_id=seat_id,
                user_id=claims.user_id,
                entry_id=claims.entry_id,
                slot=slot,
                status=HoldStatus.HELD,
                created_at=now,
                expires_ms=to_ms(now + timedelta(seconds=self._hold_seconds)),
            )
            try:
                self._store.create_hold(hold, now_ms)
                return hold
            except HoldCancelled as cancelled:
                if HoldConflict.SEAT in cancelled.causes:
                    self._raise_if_unavailable(concert_id, seat_id, now_ms)
                if HoldConflict.BUSY in cancelled.causes:
                    self._sleep(random.uniform(0, 0.02 * 2**attempt))
                # SLOT (a parallel request of this user), HOLD_ID (an id clash), a seat freed since: again.
        raise SeatsBusy("too much contention on this seat, retry")

    def _free_slot(self, slots: Sequence[HoldSlot], now_ms: int) -> int | None:
        taken = {slot.index for slot in slots if not slot.is_free(now_ms)}
        return next((k for k in range(self._max_seats) if k not in taken), None)

    def _raise_if_unavailable(self, concert_id: str, seat_id: str, now_ms: int) -> None:
        seat = self._store.get_seat(concert_id, seat_id)
        if seat is None:
            raise SeatNotFound(f"seat {seat_id!r} not found in concert {concert_id!r}")
        view = seat.view(now_ms)
        if view is not SeatView.AVAILABLE:
            raise SeatUnavailable(f"seat {seat_id!r} is {view.value.lower()}", seatStatus=view.value)

    def release(self, hold_id: str, token: str | None) -> Hold:
        """The holder (the token's sub) releases the hold: 200 with RELEASED, or the hold's final status
        if it is no longer live (released before, or expired: then it is tidied now)."""
        now = self._clock()
        # Authenticated before any read: an anonymous caller costs no DynamoDB request.
        claims = self._tokens().authenticate(token, self._issuer, now)
        hold = self._store.get_hold(hold_id)
        if hold is None:
            raise HoldNotFound(f"hold {hold_id!r} not found")
        if claims.concert_id != hold.concert_id:
            raise TokenRejected(HTTPStatus.FORBIDDEN, "token is for another concert")
        if claims.user_id != hold.user_id:
            raise NotHolder("only the holder can release a hold")
        now_ms = to_ms(now)
        for _ in range(MAX_ATTEMPTS):
            if hold.status is not HoldStatus.HELD:
                return hold
            if not hold.is_live(now_ms):
                self._store.expire_hold(hold, now_ms)
                return replace(hold, status=HoldStatus.EXPIRED)
            try:
                self._store.release_hold(hold, now_ms)
                return replace(hold, status=HoldStatus.RELEASED)
            except HoldCancelled:
                latest = self._store.get_hold(hold_id)  # released or expired meanwhile: answer that
                if latest is None:
                    raise HoldNotFound(f"hold {hold_id!r} not found") from None
                hold = latest
        raise SeatsBusy("could not release the hold, retry")


@dataclass(frozen=True)
class SweepResult:
    expired: int
    finished: bool


class HoldSweeper:
    """Releases expired holds (correctness never waits for it: every condition checks expiry itself)."""

    def __init__(self, store: SeatStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def sweep(self, time_left: Callable[[], float]) -> SweepResult:
        """Until every expired hold is tidied or `time_left()` (seconds) runs low."""
        now_ms = to_ms(self._clock())
        expired = 0
        for hold in self._store.expired_holds(now_ms):
            if time_left() < 2.0:
                return SweepResult(expired, finished=False)
            if self._store.expire_hold(hold, now_ms):
                expired += 1
        return SweepResult(expired, finished=True)
