"""`OffsetCommitter`: the Kafka event source's offset commits (the source decides what is finished).

Asynchronous: a synchronous commit costs a broker round trip on the poll thread per batch (it halved
throughput). At most `MAX_COMMITS_IN_FLIGHT` commits are outstanding; offsets finished meanwhile are
merged into the next one, and a failed commit is sent again at the next `flush`. The source's stop
ends with `final_commit`, a synchronous one, so nothing finished is lost on close.

State: `sent` and `committed` of each partition live in the source's partition states (`parts`,
partition_buffer.py's `Partition`, shared, owned by the poll thread). librdkafka reports answered
commits through the consumer's `on_commit` callback (`committed`), which it calls from the poll
thread's own `consume`, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import TopicPartition

from infra.runtime.retry import Counters

MAX_COMMITS_IN_FLIGHT = 2


class _PartitionOffsets(Protocol):
    committed: int | None  # acknowledged by the broker
    sent: int | None  # last offset handed to an asynchronous commit
    cancelled: bool


class OffsetCommitter:
    def __init__(self, parts: Mapping[TopicPartition, _PartitionOffsets], counters: Counters) -> None:
        self._parts = parts
        self._counters = counters
        self.consumer: Any = None  # set once the consumer is open
        self._to_commit: dict[TopicPartition, int] = {}
        self._in_flight = 0
        self._failed = False

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit these offsets (next to read) of partitions still assigned."""
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
        if self._failed:
            self._failed = False
            for tp, part in self._parts.items():
                if part.sent is not None and (part.committed is None or part.committed < part.sent):
                    self._to_commit.setdefault(tp, part.sent)
        if not self._to_commit or self._in_flight >= MAX_COMMITS_IN_FLIGHT:
            return
        offsets = [TopicPartition(tp.topic, tp.partition, off) for tp, off in self._to_commit.items()]
        self._to_commit.clear()
        self._in_flight += 1
        self.consumer.commit(offsets=offsets, asynchronous=True)

    def committed(self, error: Any, partitions: list[TopicPartition]) -> None:
        """The consumer's `on_commit`: a commit was answered (also the final, synchronous one)."""
        self._in_flight = max(0, self._in_flight - 1)
        failures = [tp for tp in partitions if tp.error is not None]
        if error is not None or failures:
            reason = error if error is not None else failures[0].error
            self._counters.error("CommitFailed", f"offset commit failed (will retry): {reason}")
            self._failed = True
        for tp in partitions:
            part = self._parts.get(tp)
            if (
                tp.error is None
                and part is not None
                and (part.committed is None or tp.offset > part.committed)
            ):
                part.committed = tp.offset

    def final_commit(self) -> None:
        """A synchronous commit of everything sent, so nothing finished is lost on close."""
        offsets = [
            TopicPartition(tp.topic, tp.partition, p.sent)
            for tp, p in self._parts.items()
            if p.sent is not None and not p.cancelled
        ]
        if offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)


def committed_offsets(consumer: Any, partitions: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The group's committed offset of each partition (None: nothing committed yet)."""
    answered = consumer.committed(partitions, timeout=10)
    return {tp: (tp.offset if tp.offset >= 0 else None) for tp in answered}
