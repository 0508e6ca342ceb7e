"""The Kafka event a Kafka-triggered function receives, and turning its records into typed messages.

Our own envelope model rather than Powertools' parser models or `kafka_consumer`: those decode every
record while parsing the event, so one record with a bad base64 value or a non-JSON body fails the
whole batch and blocks its partition. Here the envelope is lenient and each record is decoded alone;
a record that can never be processed raises NonRetryableRecord and goes to its dead-letter topic.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Message = TypeVar("Message", bound=BaseModel)


class KafkaRecord(BaseModel):
    """One record as Lambda delivers it (key/value base64; header bytes as signed Java bytes)."""

    model_config = ConfigDict(extra="allow")

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestampType: str = "CREATE_TIME"
    key: str | None = None
    value: str | None = None
    headers: list[dict[str, list[int]]] = Field(default_factory=list)

    @property
    def partition_id(self) -> str:
        """The `<topic>-<partition>` identifier used in `records` and in batchItemFailures."""
        return f"{self.topic}-{self.partition}"

    def header(self, name: str) -> bytes | None:
        """The first header called `name` (Lambda sends each byte as a signed Java byte)."""
        for entry in self.headers:
            if name in entry:
                return bytes(b & 0xFF for b in entry[name])
        return None


class KafkaEvent(BaseModel):
    """The SelfManagedKafka (or MSK, `aws:kafka`) event a Kafka-triggered function receives."""

    model_config = ConfigDict(extra="allow")

    eventSource: str
    bootstrapServers: str | None = None
    records: dict[str, list[KafkaRecord]]

    def iter_records(self) -> list[KafkaRecord]:
        return [record for batch in self.records.values() for record in batch]


class NonRetryableRecord(Exception):
    """The record is malformed; retrying it can never help, so it goes to the dead-letter topic."""

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


@dataclass(frozen=True)
class RecordRef:
    """Identifies a record in the batch response: `<topic>-<partition>` and offset."""

    partition_id: str
    offset: int

    @classmethod
    def of(cls, record: KafkaRecord) -> RecordRef:
        return cls(record.partition_id, record.offset)


def b64decode(field: str, encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NonRetryableRecord("InvalidBase64", f"record {field} is not valid base64") from exc


def record_key(record: KafkaRecord) -> bytes | None:
    """The raw key bytes, or None when absent or undecodable (used to key dead letters)."""
    if record.key is None:
        return None
    try:
        return base64.b64decode(record.key, validate=True)
    except (binascii.Error, ValueError):
        return None


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in detail["loc"]) or "value"
        parts.append(f"{location}: {detail['msg']}")
    return "; ".join(parts)


def decode_json_value(record: KafkaRecord, model: type[Message]) -> Message:
    """The record's value as `model`; raise NonRetryableRecord if it can never be one."""
    if record.value is None:
        raise NonRetryableRecord("MissingValue", "record has no value")
    raw = b64decode("value", record.value)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(detail["type"] == "json_invalid" for detail in exc.errors()):
            raise NonRetryableRecord("InvalidJson", "record value is not valid JSON") from exc
        raise NonRetryableRecord("SchemaViolation", describe_validation_error(exc)) from exc


def require_key(record: KafkaRecord, expected: str, field: str) -> None:
    """The key decides the partition, hence the ordering we rely on: a mismatch is a producer bug."""
    key = b64decode("key", record.key) if record.key is not None else None
    if key != expected.encode():
        shown = key.decode("utf-8", "replace") if key is not None else None
        raise NonRetryableRecord("KeyMismatch", f"record key {shown!r} != {field} {expected!r}")


def batch_response(failures: Iterable[RecordRef]) -> dict[str, list[dict[str, Any]]]:
    """The Kafka partial batch response (ReportBatchItemFailures), lowest offsets first."""
    ordered = sorted(set(failures), key=lambda ref: (ref.partition_id, ref.offset))
    return {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": ref.partition_id, "offset": ref.offset}} for ref in ordered
        ]
    }
