"""Domain errors the DAL raises and the logic and handlers react to."""

from __future__ import annotations


class WaitingRoomError(Exception):
    pass


class ConcertNotFound(WaitingRoomError):
    def __init__(self, concert_id: str) -> None:
        super().__init__(f"concert {concert_id!r} not found")
        self.concert_id = concert_id


class Conflict(WaitingRoomError):
    """A conditional write lost a race (the item moved under us): re-read and decide again."""
