"""The seat API's question to the waiting room: is this token's entry still in its active session?

A token is valid until its `exp`, but the user may have left or completed since it was minted; the
seat API asks this gate on every hold, so a token outlives neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from waiting_room.logic.status import entry_view
from waiting_room.models.items import EntryItem
from waiting_room.models.types import EntryStatus

if TYPE_CHECKING:
    from waiting_room.dal.entries_repo import EntryRepository


class ActiveSessionGate:
    def __init__(self, entries: EntryRepository) -> None:
        self._entries = entries

    def is_active(self, entry_id: str, concert_id: str, now: datetime) -> bool:
        entry, concert = self._entries.read_for_poll(entry_id, concert_id)
        if not isinstance(entry, EntryItem) or concert is None or entry.concert_id != concert_id:
            return False
        return entry_view(entry, concert, int(now.timestamp() * 1000)).status is EntryStatus.ACTIVE
