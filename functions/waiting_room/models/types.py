"""Field types and states of the waiting room."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from common.types import Identifier

ConcertId = Identifier
UserId = Identifier
# An entry id names its concert, so a poll reads the entry and the concert in one BatchGetItem.
ENTRY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}\.[0-9a-f]{32}$"
EntryId = Annotated[str, StringConstraints(pattern=ENTRY_ID_PATTERN)]


def concert_of(entry_id: str) -> str:
    return entry_id.rpartition(".")[0]


class EntryState(StrEnum):
    """What is stored on an entry. ACTIVE, WAITING and EXPIRED are derived from the concert's admissions."""

    POSITIONED = "POSITIONED"
    LEFT = "LEFT"
    COMPLETED = "COMPLETED"
    ABANDONED = "ABANDONED"


class EntryStatus(StrEnum):
    """What a client sees."""

    PENDING = "PENDING"
    WAITING = "WAITING"
    ACTIVE = "ACTIVE"
    LEFT = "LEFT"
    ABANDONED = "ABANDONED"
    EXPIRED = "EXPIRED"
    COMPLETED = "COMPLETED"


ENDED = frozenset({EntryStatus.LEFT, EntryStatus.ABANDONED, EntryStatus.EXPIRED, EntryStatus.COMPLETED})
