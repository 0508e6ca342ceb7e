"""`OffsetCommitter`: the Kafka event source's offset commits (the source decides what is finished).

Asynchronous: a synchronous commit costs a broker round trip on the poll thread per batch (it halved
throughput). At most `MAX_COMMITS_IN_FLIGHT` commits are outstanding (kafka-python refuses requests
beyond max_in_flight per connection); offsets finished meanwhile are merged into the next one, and a
failed commit is sent again at the next `flush`. The source's stop ends with `final_commit`, a
synchronous one, so nothing finished is lost on close.

State: `sent` and `committed` of each partition live in the source's partition states (`parts`,
partition_buffer.py's `Partition`, shared, owned by the poll thread); kafka-python's IO thread
reports answered commits.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from infra.runtime.retry import Counters

MAX_COMMITS_IN_FLIGHT = 2


class _PartitionOffsets(Protocol):
    committed: int | None  # acknowledged by the broker
    sent: int | None  # last offset handed to commit_async
    cancelled: bool


class OffsetCommitter:
    def __init__(self, parts: Mapping[TopicPartition, _PartitionOffsets], counters: Counters) -> None:
        self._parts = parts
        self._counters = counters
        self.consumer: Any = None  # set once the consumer is open
        self._to_commit: dict[TopicPartition, int] = {}
        self._in_flight = 0
        self._lock = threading.Lock()
        self._failed = threading.Event()

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit these offsets (next to read) of partitions still assigned; poll thread only."""
        for tp, off in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.sent = off
                self._to_commit[tp] = off
        self.flush()

    def forget(self, tp: TopicPartition) -> None:
        """A revoked partition: nothing is committed for it any more."""
        self._to_commit.pop(tp, None)

    def flush(self) -> None:
        if self._failed.is_set():
            self._failed.clear()
            for tp, part in self._parts.items():
                if part.sent is not None and (part.committed is None or part.committed < part.sent):
                    self._to_commit.setdefault(tp, part.sent)
        if not self._to_commit or self._in_flight >= MAX_COMMITS_IN_FLIGHT:
            return
        offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._to_commit.items()}
        self._to_commit.clear()
        with self._lock:
            self._in_flight += 1
        self.consumer.commit_async(offsets, callback=self._committed)

    def _committed(self, offsets: dict[TopicPartition, Any], response: Any) -> None:
        """Runs on kafka-python's IO thread when a commit is answered."""
        with self._lock:
            self._in_flight -= 1
        if isinstance(response, BaseException):
            self._counters.error(type(response).__name__, f"offset commit failed (will retry): {response}")
            self._failed.set()
            return
        for tp, meta in offsets.items():
            part = self._parts.get(tp)
            if part is not None and (part.committed is None or meta.offset > part.committed):
                part.committed = meta.offset

    def final_commit(self) -> None:
        """A synchronous commit of everything sent, so nothing finished is lost on close."""
        offsets = {tp: p.sent for tp, p in self._parts.items() if p.sent is not None and not p.cancelled}
        if offsets:
            self.consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})


def committed_offset(consumer: Any, tp: TopicPartition) -> int | None:
    """The group's committed offset of `tp`, as an int whichever shape kafka-python answers in."""
    committed = consumer.committed(tp)
    if committed is None:
        return None
    # an int or an OffsetAndMetadata, depending on `committed(metadata=)`
    return int(getattr(committed, "offset", committed))
