"""KafkaPublisher: librdkafka options, ack wait, PublishError, producer rebuilt after a failure (no broker)."""

from __future__ import annotations

from typing import Any

import pytest

from common import kafka_publisher
from common.kafka_publisher import KafkaPublisher, PublishError
from common.ports import Outgoing


class FakeMessage:
    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41


class FakeProducer:
    """Queues delivery reports on produce and serves them on poll, as librdkafka does."""

    instances: list[FakeProducer] = []
    fail_next: str | None = None  # a delivery error to report for the next record
    silent_next = False  # report nothing for the next record (a broker that never answers)

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.sent: list[tuple[Any, ...]] = []
        self.pending: list[Any] = []
        self.polls = 0
        self.closed = False
        FakeProducer.instances.append(self)

    def produce(
        self, topic: str, value: bytes, key: bytes | None, headers: list[Any], on_delivery: Any
    ) -> None:
        self.sent.append((topic, key, value, headers))
        if FakeProducer.silent_next:
            FakeProducer.silent_next = False
            return
        error, FakeProducer.fail_next = FakeProducer.fail_next, None
        self.pending.append(lambda: on_delivery(error, None if error else FakeMessage()))

    def poll(self, timeout: float) -> int:
        assert 0 < timeout <= 10
        self.polls += 1
        served, self.pending = self.pending, []
        for report in served:
            report()
        return len(served)

    def purge(self) -> None:
        self.pending = []

    def close(self) -> bool:
        self.closed = True
        return True


@pytest.fixture(autouse=True)
def fake_kafka(monkeypatch):
    import confluent_kafka

    FakeProducer.instances = []
    FakeProducer.fail_next, FakeProducer.silent_next = None, False
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)


def test_publish_waits_for_the_delivery_report_with_durable_options():
    publisher = KafkaPublisher("broker-a:9092,broker-b:9092")
    assert publisher.publish("t", b"k", b"v", [("content-type", b"application/json")]) == (2, 41)
    assert publisher.publish("t", b"k", b"v2") == (2, 41)
    [producer] = FakeProducer.instances  # reused across calls
    assert producer.config["acks"] == "all" and producer.config["enable.idempotence"] is True
    assert producer.config["bootstrap.servers"] == "broker-a:9092,broker-b:9092"
    assert producer.config["linger.ms"] == 0
    assert producer.config["message.timeout.ms"] <= 5000 and producer.config["request.timeout.ms"] <= 5000
    assert producer.sent[0] == ("t", b"k", b"v", [("content-type", b"application/json")])
    assert producer.polls == 2  # one poll per record: it returns once the report is served


def test_a_delivery_error_raises_publish_error_and_rebuilds_the_producer():
    publisher = KafkaPublisher("broker:9092")
    FakeProducer.fail_next = "KafkaError{code=_MSG_TIMED_OUT}"
    with pytest.raises(PublishError, match="_MSG_TIMED_OUT"):
        publisher.publish("t", b"k", b"v")
    assert FakeProducer.instances[0].closed
    assert publisher.publish("t", b"k", b"v") == (2, 41)
    assert len(FakeProducer.instances) == 2


def test_no_report_within_the_ack_wait_is_a_publish_error(monkeypatch):
    monkeypatch.setattr(kafka_publisher, "_ACK_WAIT_S", 0.05)
    monkeypatch.setattr(kafka_publisher, "_POLL_SLICE_S", 0.01)
    FakeProducer.silent_next = True
    publisher = KafkaPublisher("broker:9092")
    with pytest.raises(PublishError, match="no delivery report"):
        publisher.publish("t", b"k", b"v")
    assert FakeProducer.instances[0].closed


def test_producer_options_override_the_defaults():
    KafkaPublisher("broker:9092", **{"message.timeout.ms": 1000}).publish("t", None, b"v")
    assert FakeProducer.instances[0].config["message.timeout.ms"] == 1000


def test_default_publisher_reads_bootstrap_servers_from_env(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    monkeypatch.setattr(kafka_publisher, "_default", None)
    kafka_publisher.publish("t", None, b"v")
    assert FakeProducer.instances[0].config["bootstrap.servers"] == "10.0.0.1:9092"
    monkeypatch.setattr(kafka_publisher, "_default", None)


def test_missing_bootstrap_servers_is_a_publish_error(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(PublishError, match="KAFKA_BOOTSTRAP_SERVERS"):
        KafkaPublisher().publish("t", None, b"v")


def test_publish_all_sends_every_record_then_waits_once_with_one_result_each():
    publisher = KafkaPublisher("broker:9092")
    FakeProducer.fail_next = "KafkaError{code=MSG_SIZE_TOO_LARGE}"  # the first record's report
    records = [Outgoing("t", b"a", b"1"), Outgoing("t", b"b", b"2", [("h", b"v")]), Outgoing("u", None, b"3")]
    results = publisher.publish_all(records)
    assert isinstance(results[0], PublishError) and "MSG_SIZE_TOO_LARGE" in str(results[0])
    assert results[1:] == [None, None]
    [producer] = FakeProducer.instances
    assert [sent[:3] for sent in producer.sent] == [("t", b"a", b"1"), ("t", b"b", b"2"), ("u", None, b"3")]
    assert producer.polls == 1  # all three reports served by one poll: one round trip for the lot
    assert producer.closed  # a failure discards the producer, as publish does


def test_publish_all_counts_a_record_without_a_report_as_failed(monkeypatch):
    monkeypatch.setattr(kafka_publisher, "_ACK_WAIT_S", 0.05)
    monkeypatch.setattr(kafka_publisher, "_POLL_SLICE_S", 0.01)
    FakeProducer.silent_next = True
    results = KafkaPublisher("broker:9092").publish_all(
        [Outgoing("t", b"a", b"1"), Outgoing("t", b"b", b"2")]
    )
    assert isinstance(results[0], PublishError) and "no delivery report" in str(results[0])
    assert results[1] is None
