"""Conformance of the Kafka event source mapping (kafka-esm.md sections 1-4) against real Kafka."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import replace

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from infra.runtime.kafka.source import KafkaEventSource
from infra.template.models import KafkaEventSpec
from tests.runtime.esm_helpers import Probe, wait_until

pytestmark = pytest.mark.stack


@pytest.fixture
def probe(tmp_path):
    p = Probe(tmp_path)
    yield p
    p.close()


@pytest.fixture
def servers(endpoints) -> str:
    return endpoints.require_kafka()


@pytest.fixture
def producer(servers):
    p = KafkaProducer(bootstrap_servers=servers, linger_ms=0)
    yield p
    p.close()


@pytest.fixture
def run_source(probe, servers, tmp_path):
    """Build and start a KafkaEventSource on `topic` for the probe; stopped at teardown."""
    started: list[KafkaEventSource] = []

    def run(topic: str, start: bool = True, stop_timeout_s: float = 5.0, **overrides) -> KafkaEventSource:
        spec = KafkaEventSpec(
            name="Events",
            function_logical_id="Probe",
            source_kind="SelfManagedKafka",
            topic=topic,
            bootstrap_servers=servers,
            starting_position="TRIM_HORIZON",
            consumer_group_id=f"g-{uuid.uuid4().hex[:8]}",
            batching_window_seconds=0,
        )
        spec = replace(spec, **overrides)
        source = KafkaEventSource(
            spec,
            probe.invoker,
            function_id="Probe",
            dead_letter_dir=tmp_path / "dead-letters",
            backoff_base_s=0.05,
            backoff_max_s=0.2,
            stop_timeout_s=stop_timeout_s,
            hold_s=0.2,
        )
        started.append(source)
        if start:
            source.start()
            wait_until(source.ready)
        return source

    yield run
    for source in started:
        source.stop()


def send(producer, topic, values, partition=0, key=None, headers=None, timestamp_ms=None):
    for value in values:
        raw = value if isinstance(value, bytes | None) else json.dumps(value).encode()
        producer.send(
            topic, value=raw, key=key, partition=partition, headers=headers, timestamp_ms=timestamp_ms
        )
    producer.flush()


def delivered(probe, partition_key=None):
    """All records the probe received, in delivery order."""
    out = []
    for event in probe.events():
        for key, records in event["records"].items():
            if partition_key is None or key == partition_key:
                out.extend(records)
    return out


def values_of(records):
    return [json.loads(base64.b64decode(r["value"])) for r in records]


def committed(servers, group, topic, partition=0):
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, partition))
    finally:
        consumer.close()


def test_smoke_delivers_and_commits(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    source = run_source(topic)
    send(producer, topic, [{"n": i} for i in range(5)])
    wait_until(lambda: len(delivered(probe)) == 5)
    wait_until(lambda: committed(servers, source.group_id, topic) == 5)
    assert values_of(delivered(probe)) == [{"n": i} for i in range(5)]
