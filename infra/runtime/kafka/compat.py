"""A work-around for kafka-python 3.0's pause/resume, which the Kafka source needs for back-pressure.

Pausing a partition parks the records kafka-python already fetched for it (KAFKA-7548), to be handed
out again after `resume`. But 3.0.x restores a resumed partition's parked *parsed* records only while
its "next in line" slot is None, one partition per poll, and it never empties that slot after
draining it (only when it parks). So once any partition has been drained, a partition paused mid-drain
keeps its records parked forever, and is never fetched again either (partitions with parked records
are not fetchable). `poll` below empties a drained slot before every poll, which is what kafka-python
itself does when it parks; a slot still holding records is left alone.
tests/runtime/test_kafka_compat.py pins the behaviour against a real broker, so an upgrade that
changes it fails loudly.
"""

from __future__ import annotations

from typing import Any


def poll(consumer: Any, timeout_ms: int) -> Any:
    """`consumer.poll(timeout_ms=...)` that never strands a resumed partition's parked records."""
    fetcher = getattr(consumer, "_fetcher", None)
    in_line = getattr(fetcher, "_next_partition_records", None)
    if in_line is not None and not in_line:  # drained: PartitionRecords is falsy once exhausted
        fetcher._next_partition_records = None  # type: ignore[union-attr]
    return consumer.poll(timeout_ms=timeout_ms)
