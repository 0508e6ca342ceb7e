"""Seats and holds: what the DAL stores (dataclasses) and what the seat API answers (pydantic).

Items in ConcertsTable (attribute names camelCase):
- seat       pk=CONCERT#{concertId}  sk=SEAT#{seatId}              status AVAILABLE|SOLD, holdId?, holdUserId?, holdExpiresAt? (epoch ms)
- hold slot  pk=CONCERT#{concertId}  sk=HOLDSLOT#{userId}#{k}      holdId, seatId, holdExpiresAt; k in 0..maxSeatsPerUser-1
- hold       pk=HOLD#{holdId}        sk=HOLD                       concertId, seatId, userId, entryId, slot, status, expiresAt, ttl;
                                                                  while HELD also gsi1pk=HOLDEXP#{shard} gsi1sk={expiresAt:015d}#{holdId}
A hold is live while holdExpiresAt > now: every condition says so itself, since TTL deletes up to 48 h late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_serializer

from common.types import Identifier, iso

HOLD_ID_PATTERN = r"^[0-9a-f]{32}$"
HoldId = Annotated[str, StringConstraints(pattern=HOLD_ID_PATTERN)]


class SeatStatus(StrEnum):
    """Stored on the seat. HELD is derived: a live hold on an AVAILABLE seat."""

    AVAILABLE = "AVAILABLE"
    SOLD = "SOLD"


class SeatView(StrEnum):
    AVAILABLE = "AVAILABLE"
    HELD = "HELD"
    SOLD = "SOLD"


class HoldStatus(StrEnum):
    HELD = "HELD"  # live until expiresAt
    RELEASED = "RELEASED"  # by its holder
    EXPIRED = "EXPIRED"  # tidied by the sweeper (or a release that came too late)
    CONFIRMED = "CONFIRMED"  # paid: the seat is sold to the holder, a reservation exists


@dataclass(frozen=True)
class Seat:
    concert_id: str
    seat_id: str
    status: SeatStatus
    hold_id: str | None = None
    hold_user_id: str | None = None
    hold_expires_ms: int | None = None

    def view(self, now_ms: int) -> SeatView:
        if self.status is SeatStatus.SOLD:
            return SeatView.SOLD
        if self.hold_id is not None and (self.hold_expires_ms or 0) > now_ms:
            return SeatView.HELD
        return SeatView.AVAILABLE


@dataclass(frozen=True)
class HoldSlot:
    """One of a user's maxSeatsPerUser places for a live hold in a concert."""

    index: int
    hold_id: str
    expires_ms: int

    def is_free(self, now_ms: int) -> bool:
        return self.expires_ms <= now_ms


@dataclass(frozen=True)
class Hold:
    hold_id: str
    concert_id: str
    seat_id: str
    user_id: str
    entry_id: str
    slot: int
    status: HoldStatus
    created_at: datetime
    expires_ms: int

    def is_live(self, now_ms: int) -> bool:
        return self.status is HoldStatus.HELD and self.expires_ms > now_ms


# --- HTTP ------------------------------------------------------------------------------------------


class _Path(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ConcertPath(_Path):
    concertId: Identifier


class SeatPath(_Path):
    concertId: Identifier
    seatId: Identifier


class HoldPath(_Path):
    holdId: HoldId


class _Response(BaseModel):
    @field_serializer("*", when_used="json")
    def _datetimes_as_iso(self, value: object) -> object:
        return iso(value) if isinstance(value, datetime) else value


class SeatResponse(_Response):
    seatId: str
    status: SeatView


class SeatsResponse(_Response):
    concertId: str
    total: int
    available: int
    held: int
    sold: int
    seats: list[SeatResponse]


class HoldResponse(_Response):
    holdId: str
    seatId: str
    concertId: str
    status: HoldStatus
    expiresAt: datetime


# --- what the DAL reports --------------------------------------------------------------------------


class HoldConflict(StrEnum):
    """Which part of a hold or release transaction was refused."""

    SEAT = "SEAT"  # the seat is missing, sold or (still) held, or no longer carries this hold
    SLOT = "SLOT"  # the user's slot was taken by another hold meanwhile
    HOLD_ID = "HOLD_ID"  # the hold item exists already (create) or is no longer live (release)
    BUSY = "BUSY"  # TransactionConflict or throttling: the same attempt may succeed again
    POINTS = "POINTS"  # a payment the holder's points do not cover


class HoldCancelled(Exception):
    def __init__(self, causes: set[HoldConflict]) -> None:
        super().__init__(f"hold transaction cancelled: {', '.join(sorted(causes))}")
        self.causes = causes


class ReservationResponse(_Response):
    reservationId: str
    holdId: str
    concertId: str
    seatId: str
    userId: str
    price: int
    status: HoldStatus
