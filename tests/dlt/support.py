"""Helpers of the dead-letter tests: a template naming fresh topics, real AWS-format dead letters
(written by the runtime's own code), producing, reading back, and running `surge dlt` in-process."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from infra.cli import main
from infra.runtime.destinations import KafkaTopicDestination, Message
from infra.runtime.kafka.dead_letter import kafka_failure_messages
from infra.runtime.kafka.events import Record
from infra.runtime.retry import FailedRecords

Original = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]  # key, value, headers

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Metadata:
  Surge:
    KafkaTopics:
      - {{ Name: {source}, Partitions: 2 }}
      - {{ Name: {dlt}, Partitions: {dlt_partitions} }}
Resources:
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: consumer.handler
      Runtime: python3.11
      Events:
        Records:
          Type: SelfManagedKafka
          Properties:
            KafkaBootstrapServers: ["127.0.0.1:9092"]
            Topics: [{source}]
            StartingPosition: TRIM_HORIZON
            SourceAccessConfigurations: [{{ Type: BASIC_AUTH, URI: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x" }}]
            DestinationConfig:
              OnFailure: {{ Type: Kafka, Destination: "kafka://{dlt}" }}
"""


def write_template(directory: Path, source: str, dlt: str, dlt_partitions: int = 1) -> Path:
    path = directory / "template.yaml"
    path.write_text(TEMPLATE.format(source=source, dlt=dlt, dlt_partitions=dlt_partitions))
    return path


def produce(
    servers: str, topic: str, records: Sequence[Original], timestamps_ms: Sequence[int] | None = None
) -> None:
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    try:
        futures = [
            producer.send(
                topic,
                key=key,
                value=value,
                headers=headers,
                timestamp_ms=timestamps_ms[i] if timestamps_ms else None,
            )
            for i, (key, value, headers) in enumerate(records)
        ]
        for future in futures:
            future.get(timeout=15)
    finally:
        producer.close()


def read_all(servers: str, topic: str, start: dict[int, int] | None = None) -> list[Any]:
    """Every record of the topic (from `start` per partition), in partition then offset order."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        end = consumer.end_offsets(parts)
        begin = consumer.beginning_offsets(parts)
        todo = {tp: (start or {}).get(tp.partition, begin[tp]) for tp in parts}
        todo = {tp: offset for tp, offset in todo.items() if offset < end[tp]}
        records: list[Any] = []
        if not todo:
            return records
        consumer.assign(list(todo))
        for tp, offset in todo.items():
            consumer.seek(tp, offset)
        while any(consumer.position(tp) < end[tp] for tp in todo):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(r for r in batch if r.offset < end[TopicPartition(r.topic, r.partition)])
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def end_offsets(servers: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=servers)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def aws_failure_messages(
    servers: str, records: Sequence[Any], condition: str = "retries_exhausted"
) -> list[Message]:
    """AWS's on-failure messages for these kafka-python ConsumerRecords, built by the runtime's own
    code from the Records its Kafka source would hold for them."""
    held = [
        Record(r.topic, r.partition, r.offset, r.timestamp, r.timestamp_type, r.key, r.value, r.headers, 0)
        for r in records
    ]
    failed = FailedRecords(held, condition, batch_size=len(held), invoke_count=2, result=None)  # type: ignore[arg-type]
    messages = kafka_failure_messages(
        failed,
        source_kind="SelfManagedKafka",
        bootstrap_servers=servers,
        event_source_arn=None,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:surge-Consumer",
    )
    return messages


def encoded(messages: Sequence[Message]) -> list[Original]:
    return [(key, json.dumps(doc).encode(), []) for key, doc in messages]


def dead_letter_originals(
    servers: str, source: str, dlt: str, originals: Sequence[Original], condition: str = "retries_exhausted"
) -> list[Any]:
    """Put `originals` on `source`, read them back, dead-letter each as the runtime would. Returns the
    ConsumerRecords as they sit on the source topic."""
    before = end_offsets(servers, source)
    produce(servers, source, originals)
    records = read_all(servers, source, before)
    destination = KafkaTopicDestination(dlt, servers)  # what the event source publishes with
    try:
        destination.send(aws_failure_messages(servers, records, condition))
    finally:
        destination.close()
    return records


def surge(*args: str) -> tuple[int, str]:
    """Run `surge ARGS` in this process; (exit code, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def origins(records: Sequence[Any]) -> list[str]:
    return [dict(r.headers)["surge-redrive-origin"].decode() for r in records]
