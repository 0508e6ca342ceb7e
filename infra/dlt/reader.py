"""Reading a topic from given offsets up to the end it had when we started (kafka-python).

The end is fixed at the start on purpose: a record re-driven now that fails again lands in the DLT
behind that end, and is left for the next run instead of being re-driven in a loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from infra.dlt.connection import KafkaConnection
from infra.stack.errors import StackError

_POLL_MS = 500
_STALL_S = 30.0  # no record for this long while short of the end: say so instead of hanging


def open_consumer(
    connection: KafkaConnection, group_id: str | None = None, *, connect_timeout_s: float = 10.0
) -> Any:
    try:
        return KafkaConsumer(
            group_id=group_id,
            bootstrap_timeout_ms=int(connect_timeout_s * 1000),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="surge-dlt",
            request_timeout_ms=30_000,
            **connection.client_config(),
        )
    except KafkaError as exc:
        raise StackError(
            f"cannot reach Kafka at {connection.bootstrap_servers} ({connection.source}): {exc}"
        ) from exc


def topic_partitions(consumer: Any, topic: str, connection: KafkaConnection) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise StackError(
            f"topic {topic} does not exist on {connection.bootstrap_servers} ({connection.source}); "
            "`surge stack up` or `surge local up` creates the template's topics"
        )
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def read_until(
    consumer: Any, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int]
) -> Iterator[Any]:
    """ConsumerRecords from `start` (inclusive) to `end` (exclusive) per partition, each partition in
    offset order."""
    todo = {tp: offset for tp, offset in start.items() if offset < end.get(tp, 0)}
    if not todo:
        return
    consumer.assign(list(todo))
    for tp, offset in todo.items():
        consumer.seek(tp, offset)
    last_progress = time.monotonic()
    while todo:
        batches = consumer.poll(timeout_ms=_POLL_MS)
        for tp, records in batches.items():
            if tp not in todo:
                continue
            for record in records:
                if record.offset >= end[tp]:
                    break
                yield record
        # Offsets may have gaps (compaction, transaction markers): the position says how far we are.
        for tp in [tp for tp in todo if consumer.position(tp) >= end[tp]]:
            del todo[tp]
            consumer.pause(tp)
            last_progress = time.monotonic()
        if batches:
            last_progress = time.monotonic()
        elif todo and time.monotonic() - last_progress > _STALL_S:
            left = {f"{tp.topic}/{tp.partition}": end[tp] - consumer.position(tp) for tp in todo}
            raise StackError(f"reading stalled for {_STALL_S:.0f}s short of the end; records left: {left}")


def beginning_and_end(
    consumer: Any, partitions: Iterable[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    parts = list(partitions)
    return consumer.beginning_offsets(parts), consumer.end_offsets(parts)


def message_counts(
    connection: KafkaConnection, topics: Iterable[str], *, connect_timeout_s: float = 10.0
) -> dict[str, int | None]:
    """Messages retained per topic (end minus beginning offsets); None for a topic that does not exist."""
    consumer = open_consumer(connection, connect_timeout_s=connect_timeout_s)
    try:
        counts: dict[str, int | None] = {}
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                counts[topic] = None
                continue
            begin, end = beginning_and_end(consumer, (TopicPartition(topic, p) for p in partitions))
            counts[topic] = sum(end[tp] - begin[tp] for tp in end)
        return counts
    finally:
        consumer.close()
