"""The Kafka source's back-pressure (infra/runtime/kafka/source.py, _apply_backpressure): a full
partition first only holds consumption back, and is paused in the consumer only when it stays full.
Pausing at once made librdkafka drop and refetch its prefetched records on every batch: the runtime
bench fell from ~90,000 to ~15,000 records/s. A rebalance resumes what it assigns: librdkafka keeps
a pause across unassign and assign (the fake consumer below does too)."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from infra.runtime.kafka.events import Record
from infra.runtime.kafka.partition_buffer import BUFFER_BATCHES, Partition
from infra.runtime.kafka.source import PAUSE_AFTER_S, KafkaEventSource
from infra.template.models import KafkaEventSpec


class _Consumer:
    """Pause flags as librdkafka keeps them: per partition, untouched by assign and unassign."""

    def __init__(self) -> None:
        self.paused: set[int] = set()
        self.resume_fails = False

    def pause(self, tps: list[TopicPartition]) -> None:
        self.paused.update(tp.partition for tp in tps)

    def resume(self, tps: list[TopicPartition]) -> None:
        if self.resume_fails:
            raise KafkaException(KafkaError(KafkaError._STATE))
        self.paused.difference_update(tp.partition for tp in tps)

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 7) for tp in tps]

    def assign(self, tps: list[TopicPartition]) -> None:
        pass

    def unassign(self) -> None:
        pass


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


def _pause_then_rebalance(source: KafkaEventSource, consumer: _Consumer) -> None:
    """Partition 0 stays full until paused; then the group revokes both partitions and assigns both
    back (eager rebalance)."""
    _fill(source._parts[TopicPartition("t", 0)], 10 * BUFFER_BATCHES)
    source._apply_backpressure(now=100.0)
    source._apply_backpressure(now=100.0 + PAUSE_AFTER_S)
    assert consumer.paused == {0}
    source._on_revoke(consumer, [TopicPartition("t", 0), TopicPartition("t", 1)])
    source._on_assign(consumer, [TopicPartition("t", 0), TopicPartition("t", 1)])


def test_a_rebalance_resumes_a_partition_paused_before_it(tmp_path):
    source, consumer = _source(tmp_path, partitions=2)
    _pause_then_rebalance(source, consumer)
    assert consumer.paused == set(), "librdkafka would never fetch partition 0 again"
    part = source._parts[TopicPartition("t", 0)]
    assert not part.paused and part.committed == 7 and not part.buffer


def test_a_failed_resume_after_a_rebalance_is_tried_again_by_back_pressure(tmp_path):
    source, consumer = _source(tmp_path, partitions=2)
    consumer.resume_fails = True
    _pause_then_rebalance(source, consumer)
    assert consumer.paused == {0}
    assert all(part.paused for part in source._parts.values())  # not known to be fetched: say so
    assert source.counters.snapshot()["last_error"]["type"] == "ResumeFailed"

    consumer.resume_fails = False
    assert source._apply_backpressure(now=200.0) is None
    assert consumer.paused == set()
    assert not any(part.paused for part in source._parts.values())
