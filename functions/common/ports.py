"""What logic needs from the outside world, shared by every capability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class Publisher(Protocol):
    def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> tuple[int, int]:
        """Block until the broker acknowledged; raise on failure."""
        ...


class Outgoing(NamedTuple):
    """One record for `BatchPublisher.publish_all`."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


class BatchPublisher(Protocol):
    def publish_all(self, records: Sequence[Outgoing]) -> list[Exception | None]:
        """Send all the records at once and wait for every ack: one result per record, in order (None:
        acknowledged). Records of one partition are written in the order given."""
        ...
