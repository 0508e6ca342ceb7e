"""Benchmark: records/s the Kafka event source delivers to a no-op handler, next to the rates of two
plain consumers reading the same topic, CRC checks on for all: a kafka-python one (the target:
runtime >= 0.7 of it with BatchSize 500 on 4 partitions, set when the source ran on kafka-python) and
a confluent-kafka one, the library the source now uses (printed for information: it only counts
records, at C speed, where the runtime hands each one to a worker process that builds its payload).

Both clocks measure the steady flow the same way: they start when the first records are in hand (the
plain consumer's first non-empty poll, the runtime's first finished invocation) and those first
records are not counted, so group join, offset reset and the first fetch are left out of both; the
runtime's clock stops when every record is delivered and its offset committed."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from infra.runtime.kafka.source import KafkaEventSource
from infra.runtime.workers import FunctionRuntime, WorkerInvoker
from infra.template.models import KafkaEventSpec

NOOP_CODE = Path(__file__).parent / "noop_function"
_VALUE = b'{"couponId":"c-0000000000","userId":"u-00000000","amount":1000}'


def measure_kafka_runtime_rate(
    bootstrap_servers: str,
    records: int = 1_000_000,
    partitions: int = 4,
    batch_size: int = 500,
    rounds: int = 3,
    progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Both consumers read the same topic `rounds` times, alternating, and each reports its median:
    the plain consumer alone varies by +-10% between back-to-back runs on a small machine."""
    topic = f"bench.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
        progress(f"writing {records:,} records to a {partitions}-partition topic")
        _fill(bootstrap_servers, topic, records)
        raw_rates: list[float] = []
        confluent_rates: list[float] = []
        runtime_rates: list[float] = []
        stalled = 0
        for round_no in range(1, rounds + 1):
            try:
                raw = _raw_consumer_rate(bootstrap_servers, topic, records)
                confluent = _confluent_consumer_rate(bootstrap_servers, topic, records)
                runtime = _runtime_rate(bootstrap_servers, topic, records, partitions, batch_size)
            except RoundStalled as exc:
                stalled += 1
                progress(f"round {round_no}/{rounds}: STALLED, not counted ({exc})")
                continue
            raw_rates.append(raw)
            confluent_rates.append(confluent)
            runtime_rates.append(runtime)
            progress(
                f"round {round_no}/{rounds}: plain kafka-python consumer {raw:,.0f}/s, plain confluent-kafka"
                f" consumer {confluent:,.0f}/s, runtime {runtime:,.0f}/s"
            )
        if not raw_rates:
            raise RoundStalled(f"all {rounds} rounds stalled")
        raw_rate, runtime_rate = statistics.median(raw_rates), statistics.median(runtime_rates)
        confluent_rate = statistics.median(confluent_rates)
    finally:
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
    return {
        "records": records,
        "partitions": partitions,
        "batch_size": batch_size,
        "rounds": len(raw_rates),
        "stalled_rounds": stalled,
        "raw_consumer_records_per_s": round(raw_rate),
        "confluent_consumer_records_per_s": round(confluent_rate),
        "runtime_records_per_s": round(runtime_rate),
        "ratio": round(runtime_rate / raw_rate, 3),
    }


class RoundStalled(Exception):
    """A consumer made no progress for `_STALL_S`; the round is reported and not counted, never
    waited on forever."""


_STALL_S = 60.0


class _Progress:
    """Raises RoundStalled when `count` has not moved for `_STALL_S`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = -1
        self.moved_at = time.monotonic()

    def check(self, count: int) -> None:
        now = time.monotonic()
        if count != self.count:
            self.count, self.moved_at = count, now
        elif now - self.moved_at > _STALL_S:
            raise RoundStalled(f"{self.what}: stuck at {count:,} records for {_STALL_S:.0f} s")


def _fill(servers: str, topic: str, records: int) -> None:
    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=20, batch_size=256 * 1024, acks=1)
    for i in range(records):
        producer.send(topic, key=str(i).encode(), value=_VALUE)
    producer.flush()
    producer.close()


def _raw_consumer_rate(servers: str, topic: str, records: int) -> float:
    """A plain kafka-python consumer (CRC checks on, with the crc32c C extension)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        return _steady_rate(
            "plain kafka-python consumer",
            records,
            lambda: sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values()),
        )
    finally:
        consumer.close()


def _confluent_consumer_rate(servers: str, topic: str, records: int) -> float:
    """The least a confluent-kafka consumer can do: take each record and check it is not an error."""
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "check.crcs": True,
        }
    )
    consumer.subscribe([topic])
    try:
        return _steady_rate(
            "plain confluent-kafka consumer",
            records,
            lambda: sum(1 for message in consumer.consume(1000, 1.0) if message.error() is None),
        )
    finally:
        consumer.close()


def _steady_rate(what: str, records: int, take: Callable[[], int]) -> float:
    """Records/s of a consumer (`take` returns how many records one call took), from the first
    records in hand to the last; the first ones are not counted."""
    seen = 0
    started, first = 0.0, 0
    watch = _Progress(what)
    while seen < records:
        watch.check(seen)
        seen += take()
        if not first and seen:
            started, first = time.monotonic(), seen
    return (seen - first) / (time.monotonic() - started)


def _runtime_rate(servers: str, topic: str, records: int, partitions: int, batch_size: int) -> float:
    function = FunctionRuntime("Noop", "surge-Noop", "noop.handler", str(NOOP_CODE), 30, 128, {}, partitions)
    invoker = WorkerInvoker({"Noop": function}, log=lambda f, line: None)
    with ThreadPoolExecutor(partitions) as pool:  # start one execution environment per partition
        list(pool.map(lambda _: invoker.invoke("Noop", {}), range(partitions)))
    spec = KafkaEventSpec(
        name="Bench",
        function_logical_id="Noop",
        source_kind="SelfManagedKafka",
        topic=topic,
        bootstrap_servers=servers,
        starting_position="TRIM_HORIZON",
        consumer_group_id=f"bench-esm-{uuid.uuid4().hex[:8]}",
        batch_size=batch_size,
        batching_window_seconds=0.5,
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = KafkaEventSource(spec, invoker, function_id="Noop", dead_letter_dir=Path(tmp))
        try:
            source.start()
            watch = _Progress("runtime")
            while not source.ready() or not source.counters.records:
                watch.check(0)
                time.sleep(0.001)
            started, first = time.monotonic(), source.counters.records
            while source.counters.records < records:
                watch.check(source.counters.records)
                time.sleep(0.01)
            # the last commits land right after the last invocations; wait for them too
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            while (
                committed := sum(source._parts[tp].committed or 0 for tp in tps if tp in source._parts)
            ) < records:
                watch.check(records + committed)
                time.sleep(0.01)
            return (records - first) / (time.monotonic() - started)
        finally:
            source.stop()
            invoker.close()


if __name__ == "__main__":
    import json
    import os

    print(json.dumps(measure_kafka_runtime_rate(os.environ["KAFKA_BOOTSTRAP_SERVERS"]), indent=2))
