"""The Kafka source's back-pressure (infra/runtime/kafka/source.py, _apply_backpressure): a full
partition first only holds consumption back, and is paused in the consumer only when it stays full.
Pausing at once made librdkafka drop and refetch its prefetched records on every batch: the runtime
bench fell from ~90,000 to ~15,000 records/s."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import TopicPartition

from infra.runtime.kafka.events import Record
from infra.runtime.kafka.partition_buffer import BUFFER_BATCHES, Partition
from infra.runtime.kafka.source import PAUSE_AFTER_S, KafkaEventSource
from infra.template.models import KafkaEventSpec


class _Consumer:
    def __init__(self) -> None:
        self.paused: set[int] = set()

    def pause(self, tps: list[TopicPartition]) -> None:
        self.paused.update(tp.partition for tp in tps)

    def resume(self, tps: list[TopicPartition]) -> None:
        self.paused.difference_update(tp.partition for tp in tps)


def _source(tmp_path: Path, partitions: int) -> tuple[KafkaEventSource, _Consumer]:
    spec = KafkaEventSpec("Events", "Fn", "SelfManagedKafka", "t", "b:9092", "TRIM_HORIZON", batch_size=10)
    source = KafkaEventSource(spec, invoker=None, function_id="Fn", dead_letter_dir=tmp_path)  # type: ignore[arg-type]
    consumer = _Consumer()
    source._consumer = consumer
    for number in range(partitions):
        tp = TopicPartition("t", number)
        source._parts[tp] = Partition(tp)
    return source, consumer


def _fill(part: Partition, records: int) -> None:
    part.clear()
    part.add([Record("t", 0, n, 0, 0, None, b"v", None, 200) for n in range(records)], 200 * records, 0.0)


def test_a_full_partition_holds_consumption_then_is_paused_if_it_stays_full(tmp_path):
    source, consumer = _source(tmp_path, partitions=2)
    full, other = source._parts.values()
    _fill(full, 10 * BUFFER_BATCHES)
    _fill(other, 5)

    hold = source._apply_backpressure(now=100.0)
    assert hold == PAUSE_AFTER_S and consumer.paused == set()  # held back, nothing dropped yet

    _fill(full, 10 * BUFFER_BATCHES - 10)  # a batch finished: room again
    assert source._apply_backpressure(now=100.1) is None and consumer.paused == set()

    _fill(full, 10 * BUFFER_BATCHES)  # full again, and it stays full
    assert source._apply_backpressure(now=101.0) == PAUSE_AFTER_S
    still = source._apply_backpressure(now=101.0 + PAUSE_AFTER_S / 2)
    assert still is not None and 0 < still < PAUSE_AFTER_S
    assert source._apply_backpressure(now=101.0 + PAUSE_AFTER_S) is None  # paused: the other flows
    assert consumer.paused == {0} and full.paused

    _fill(full, 10)  # drained below full: fetched again
    assert source._apply_backpressure(now=102.0) is None
    assert consumer.paused == set() and not full.paused
