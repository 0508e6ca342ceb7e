"""The record value on queue.entry-requested (JSON, key = concertId)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_serializer

from common.types import UtcDatetime, iso
from waiting_room.models.types import ConcertId, EntryId, UserId


class EntryRequested(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entryId: EntryId
    concertId: ConcertId
    userId: UserId
    requestedAt: UtcDatetime

    @field_serializer("requestedAt")
    def _iso(self, value: datetime) -> str:
        return iso(value)
