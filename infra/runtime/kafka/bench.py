"""Benchmark: records/s the Kafka event source delivers to a no-op handler, next to the rate of a
plain kafka-python consumer reading the same topic with the same settings (CRC checks on, with the
crc32c C extension) (issue 3 target: ratio >= 0.7 with BatchSize 500 on 4 partitions)."""

from __future__ import annotations

import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from infra.runtime.kafka.source import KafkaEventSource
from infra.runtime.workers import FunctionRuntime, WorkerInvoker
from infra.template.models import KafkaEventSpec

NOOP_CODE = Path(__file__).parent / "noop_function"
_VALUE = b'{"couponId":"c-0000000000","userId":"u-00000000","amount":1000}'


def measure_kafka_runtime_rate(
    bootstrap_servers: str, records: int = 200_000, partitions: int = 4, batch_size: int = 500
) -> dict[str, Any]:
    topic = f"bench.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
        _fill(bootstrap_servers, topic, records)
        raw_s = _raw_consumer_seconds(bootstrap_servers, topic, records)
        runtime_s = _runtime_seconds(bootstrap_servers, topic, records, partitions, batch_size)
    finally:
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
    raw_rate, runtime_rate = records / raw_s, records / runtime_s
    return {
        "records": records,
        "partitions": partitions,
        "batch_size": batch_size,
        "raw_consumer_records_per_s": round(raw_rate),
        "runtime_records_per_s": round(runtime_rate),
        "ratio": round(runtime_rate / raw_rate, 3),
    }


def _fill(servers: str, topic: str, records: int) -> None:
    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=20, batch_size=256 * 1024, acks=1)
    for i in range(records):
        producer.send(topic, key=str(i).encode(), value=_VALUE)
    producer.flush()
    producer.close()


def _raw_consumer_seconds(servers: str, topic: str, records: int) -> float:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen = 0
    started = None
    try:
        while seen < records:
            batch = consumer.poll(timeout_ms=1000)
            if started is None and batch:
                started = time.monotonic()  # from the first record: the group join is not counted
            seen += sum(len(v) for v in batch.values())
        assert started is not None
        return time.monotonic() - started
    finally:
        consumer.close()


def _runtime_seconds(servers: str, topic: str, records: int, partitions: int, batch_size: int) -> float:
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
            while not source.ready():
                time.sleep(0.01)
            started = time.monotonic()
            while source.counters.records < records:
                time.sleep(0.01)
            # the last commits land right after the last invocations; wait for them too
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            while sum(source._parts[tp].committed or 0 for tp in tps if tp in source._parts) < records:
                time.sleep(0.01)
            return time.monotonic() - started
        finally:
            source.stop()
            invoker.close()


if __name__ == "__main__":
    import json
    import os

    print(json.dumps(measure_kafka_runtime_rate(os.environ["KAFKA_BOOTSTRAP_SERVERS"]), indent=2))
