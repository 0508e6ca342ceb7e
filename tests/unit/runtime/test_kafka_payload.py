"""The Lambda Kafka payload built from raw rows in the worker (infra/runtime/kafka/events.py)."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from infra.runtime.kafka.events import KafkaBatch, batch_rows, payload_size


def _record(offset: int, key: bytes | None, value: bytes | None, headers=()) -> ConsumerRecord:
    return ConsumerRecord(
        "orders",
        2,
        0,
        offset,
        1_700_000_000_123,
        1,
        key,
        value,
        list(headers),
        None,
        len(key) if key is not None else -1,
        len(value) if value is not None else -1,
        -1,
    )


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
