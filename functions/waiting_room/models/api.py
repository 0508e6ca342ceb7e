"""HTTP API request and response bodies (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer, model_validator

from common.types import Identifier, UtcDatetime, iso
from waiting_room.models.types import ConcertId, EntryId, EntryStatus, UserId

MAX_SEATS = 100_000
SeatId = Identifier


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PutConcertRequest(_Request):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    admitPerInterval: int = Field(ge=1, le=10_000)
    intervalSeconds: int = Field(ge=1, le=3600)
    maxActive: int = Field(ge=1, le=1_000_000)
    sessionSeconds: int = Field(default=600, ge=1, le=86_400)
    heartbeatSeconds: int = Field(default=120, ge=1, le=86_400)
    opensAt: UtcDatetime | None = None
    seatCount: int | None = Field(default=None, ge=1, le=MAX_SEATS)
    seats: list[SeatId] | None = Field(default=None, min_length=1, max_length=MAX_SEATS)

    @model_validator(mode="after")
    def _one_seat_spec(self) -> PutConcertRequest:
        if (self.seatCount is None) == (self.seats is None):
            raise ValueError("give exactly one of seatCount and seats")
        if self.seats is not None and len(set(self.seats)) != len(self.seats):
            raise ValueError("seats must not repeat a seat id")
        return self

    def seat_ids(self) -> list[str]:
        return (
            list(self.seats)
            if self.seats is not None
            else [str(i) for i in range(1, (self.seatCount or 0) + 1)]
        )


class EnterQueueRequest(_Request):
    userId: UserId


class ConcertIdPath(_Request):
    concertId: ConcertId


class EntryIdPath(_Request):
    entryId: EntryId


class _Response(BaseModel):
    @field_serializer("*", when_used="json")
    def _datetimes_as_iso(self, value: object) -> object:
        return iso(value) if isinstance(value, datetime) else value


class ConcertResponse(_Response):
    concertId: str
    name: str
    admitPerInterval: int
    intervalSeconds: int
    maxActive: int
    sessionSeconds: int
    heartbeatSeconds: int
    opensAt: datetime | None
    seatCount: int
    paused: bool


class QueueStatsResponse(_Response):
    concertId: str
    waiting: int
    active: int
    admitted: int
    left: int
    abandoned: int
    expired: int
    completed: int
    servingPosition: int
    lastPosition: int
    paused: bool


class EntryAcceptedResponse(_Response):
    entryId: str
    status: EntryStatus = EntryStatus.PENDING


class EntryResponse(_Response):
    entryId: str
    status: EntryStatus
    concertId: str | None = None
    position: int | None = None
    ahead: int | None = None
    servingPosition: int | None = None
    estimatedWaitSeconds: int | None = None
    activeUntil: datetime | None = None


class TokenResponse(_Response):
    token: str
    expiresAt: datetime
