"""The broker surge starts is a real Kafka: keyed partitioning, consumer groups, commits, durability."""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from infra.stack.kafka_broker import KafkaBroker


def _produce(servers: str, topic: str, records: list[tuple[str, str]]) -> None:
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    for key, value in records:
        producer.send(topic, key=key.encode(), value=value.encode())
    producer.flush()
    producer.close()


def _consume_all(servers: str, topic: str, group: str, expected: int, commit: bool = True) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    seen = []
    for message in consumer:
        seen.append(message)
        if len(seen) >= expected:
            break
    if commit:
        consumer.commit()
    consumer.close()
    return seen


def test_keyed_round_trip_with_group_commit(endpoints, make_topic):
    servers = endpoints.require_kafka()
    topic = make_topic(partitions=4)
    records = [(f"coupon-{i % 13}", f"value-{i}") for i in range(300)]
    _produce(servers, topic, records)

    first = _consume_all(servers, topic, "round-trip", expected=300)
    assert sorted(m.value.decode() for m in first) == sorted(v for _, v in records)

    partitions_by_key = defaultdict(set)
    for message in first:
        partitions_by_key[message.key].add(message.partition)
    assert all(len(p) == 1 for p in partitions_by_key.values()), "a key landed in two partitions"
    assert len({p for ps in partitions_by_key.values() for p in ps}) > 1, "all keys in one partition"

    # Same group again: the committed offsets mean nothing is read twice.
    assert _consume_all(servers, topic, "round-trip", expected=1) == []
    # New records after the commit are delivered to the group, and only those.
    _produce(servers, topic, [("coupon-1", "late")])
    again = _consume_all(servers, topic, "round-trip", expected=1)
    assert [m.value for m in again] == [b"late"]


def test_data_survives_a_broker_restart_with_data_dir(tmp_path: Path):
    data_dir = tmp_path / "kafka-data"
    broker = KafkaBroker.start(data_dir=data_dir, log_dir=tmp_path / "logs")
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        admin.create_topics([NewTopic("durable", 2, 1)])
        admin.close()
        _produce(broker.bootstrap_servers, "durable", [(f"k{i}", f"v{i}") for i in range(50)])
    finally:
        broker.stop()
    assert data_dir.exists(), "a --data-dir must not be removed on stop"

    restarted = KafkaBroker.start(data_dir=data_dir, log_dir=tmp_path / "logs")
    try:
        seen = _consume_all(restarted.bootstrap_servers, "durable", "after-restart", expected=50)
        assert sorted(m.value.decode() for m in seen) == sorted(f"v{i}" for i in range(50))
    finally:
        restarted.stop()


def test_temporary_data_is_removed_on_stop(tmp_path: Path):
    broker = KafkaBroker.start(log_dir=tmp_path / "logs")
    data = broker.data_dir
    assert data.exists()
    broker.stop()
    assert not data.exists()


def test_a_cluster_id_starting_with_a_dash_formats_and_starts(tmp_path: Path, monkeypatch):
    """Kafka cluster ids are base64url; one in 64 starts with "-", which once failed a CI run."""
    dash_id = base64.urlsafe_b64encode(b"\xf8" + uuid.uuid4().bytes[1:]).decode().rstrip("=")
    assert dash_id.startswith("-")
    monkeypatch.setattr("infra.stack.kafka_broker._kafka_cluster_id", lambda: dash_id)
    broker = KafkaBroker.start(log_dir=tmp_path / "logs")
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        admin.create_topics([NewTopic("after-dash", 1, 1)])
        admin.close()
    finally:
        broker.stop()
