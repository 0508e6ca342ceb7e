"""The Lambda Kafka payload built from raw rows in the worker (infra/runtime/kafka/events.py)."""

from __future__ import annotations

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

from infra.runtime.kafka.events import KafkaBatch, Record, batch_rows, payload_size, record_of


class _Message:
    """What confluent-kafka's consumer hands out (its Message cannot be built in Python)."""

    def __init__(self, offset, key, value, headers, kind=TIMESTAMP_LOG_APPEND_TIME):
        self._fields = (offset, key, value, headers or None, kind)

    def topic(self):
        return "orders"

    def partition(self):
        return 2

    def offset(self):
        return self._fields[0]

    def key(self):
        return self._fields[1]

    def value(self):
        return self._fields[2]

    def headers(self):
        return self._fields[3]

    def timestamp(self):
        return self._fields[4], 1_700_000_000_123


def _record(offset: int, key: bytes | None, value: bytes | None, headers=(), **kwargs) -> Record:
    return record_of(_Message(offset, key, value, list(headers), **kwargs))


def test_rows_become_the_lambda_payload():
    records = [_record(5, b"k", b'{"a":1}', [("trace", "ë".encode())]), _record(6, None, None)]
    event = KafkaBatch(
        "SelfManagedKafka", "h1:9092,h2:9092", None, "orders", 2, batch_rows(records)
    ).to_event()
    assert event == {
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": "h1:9092,h2:9092",
        "records": {
            "orders-2": [
                {
                    "topic": "orders",
                    "partition": 2,
                    "offset": 5,
                    "timestamp": 1_700_000_000_123,
                    "timestampType": "LOG_APPEND_TIME",
                    "key": "aw==",
                    "value": "eyJhIjoxfQ==",
                    "headers": [{"trace": [-61, -85]}],
                },
                {
                    "topic": "orders",
                    "partition": 2,
                    "offset": 6,
                    "timestamp": 1_700_000_000_123,
                    "timestampType": "LOG_APPEND_TIME",
                    "headers": [],
                },
            ]
        },
    }


def test_msk_payload_carries_the_cluster_arn():
    arn = "arn:aws:kafka:us-east-1:123456789012:cluster/c/abc"
    event = KafkaBatch("MSK", "b:9098", arn, "orders", 0, batch_rows([_record(0, b"k", b"v")])).to_event()
    assert event["eventSource"] == "aws:kafka"
    assert event["eventSourceArn"] == arn


def test_payload_size_counts_base64_growth_and_per_record_overhead():
    """It decides when a batch reaches Lambda's 6 MB cap."""
    small = payload_size([_record(0, b"k", b"v" * 10)])
    large = payload_size([_record(0, b"k", b"v" * 10_000)])
    assert abs((large - small) - (10_000 - 10) * 4 / 3) <= 1
    one = payload_size([_record(0, b"k", b"v")])
    assert abs(payload_size([_record(i, b"k", b"v") for i in range(10)]) - 10 * one) <= 10  # rounding


def test_a_record_keeps_the_messages_fields_and_its_timestamp_type():
    record = _record(9, b"k", b"v", [("h", b"x")], kind=TIMESTAMP_CREATE_TIME)
    assert (record.topic, record.partition, record.offset, record.timestamp) == (
        "orders",
        2,
        9,
        1_700_000_000_123,
    )
    assert (record.key, record.value, record.headers) == (b"k", b"v", [("h", b"x")])
    (row,) = KafkaBatch("SelfManagedKafka", "b", None, "orders", 2, batch_rows([record])).to_event()[
        "records"
    ]["orders-2"]
    assert row["timestampType"] == "CREATE_TIME"
