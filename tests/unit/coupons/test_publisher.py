"""KafkaPublisher: options, ack wait, PublishError, producer rebuilt after a failure (no broker needed)."""

from __future__ import annotations

from typing import Any

import pytest

from common import kafka_publisher
from common.kafka_publisher import KafkaPublisher, PublishError


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float) -> Any:
        assert timeout <= 10
        if self.error:
            raise self.error
        return type("Meta", (), {"partition": 2, "offset": 41})()


class FakeProducer:
    instances: list[FakeProducer] = []
    fail_next: Exception | None = None

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[Any, ...]] = []
        self.closed = False
        FakeProducer.instances.append(self)

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[Any]) -> FakeFuture:
        self.sent.append((topic, key, value, headers))
        error, FakeProducer.fail_next = FakeProducer.fail_next, None
        return FakeFuture(error)

    def close(self, timeout: float) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def fake_kafka(monkeypatch):
    import kafka

    FakeProducer.instances = []
    monkeypatch.setattr(kafka, "KafkaProducer", FakeProducer)


def test_publish_waits_for_ack_with_durable_options():
    publisher = KafkaPublisher("broker-a:9092,broker-b:9092")
    assert publisher.publish("t", b"k", b"v", [("content-type", b"application/json")]) == (2, 41)
    assert publisher.publish("t", b"k", b"v2") == (2, 41)
    [producer] = FakeProducer.instances  # reused across calls
    assert producer.config["acks"] == "all" and producer.config["enable_idempotence"] is True
    assert producer.config["bootstrap_servers"] == ["broker-a:9092", "broker-b:9092"]
    assert producer.config["max_block_ms"] <= 5000 and producer.config["request_timeout_ms"] <= 5000
    assert producer.sent[0] == ("t", b"k", b"v", [("content-type", b"application/json")])


def test_failure_raises_publish_error_and_rebuilds_producer():
    publisher = KafkaPublisher("broker:9092")
    FakeProducer.fail_next = TimeoutError("no ack")
    with pytest.raises(PublishError, match="no ack"):
        publisher.publish("t", b"k", b"v")
    assert FakeProducer.instances[0].closed
    assert publisher.publish("t", b"k", b"v") == (2, 41)
    assert len(FakeProducer.instances) == 2


def test_default_publisher_reads_bootstrap_servers_from_env(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    monkeypatch.setattr(kafka_publisher, "_default", None)
    kafka_publisher.publish("t", None, b"v")
    assert FakeProducer.instances[0].config["bootstrap_servers"] == ["10.0.0.1:9092"]
    monkeypatch.setattr(kafka_publisher, "_default", None)


def test_missing_bootstrap_servers_is_a_publish_error(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(PublishError, match="KAFKA_BOOTSTRAP_SERVERS"):
        KafkaPublisher().publish("t", None, b"v")
