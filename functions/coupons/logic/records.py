"""Turning a Kafka record into an IssueRequested, or into a reason why it never can be."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from pydantic import ValidationError

from coupons.models.events import IssueRequested, KafkaRecord


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


def decode_issue_request(record: KafkaRecord) -> IssueRequested:
    """Raise NonRetryableRecord if the record can never be processed."""
    if record.value is None:
        raise NonRetryableRecord("MissingValue", "record has no value")
    raw = b64decode("value", record.value)
    try:
        request = IssueRequested.model_validate_json(raw)
    except ValidationError as exc:
        if any(detail["type"] == "json_invalid" for detail in exc.errors()):
            raise NonRetryableRecord("InvalidJson", "record value is not valid JSON") from exc
        raise NonRetryableRecord("SchemaViolation", describe_validation_error(exc)) from exc
    key = b64decode("key", record.key) if record.key is not None else None
    if key != request.couponId.encode():
        # The key decides the partition, hence per-coupon ordering: a mismatch is a producer bug.
        shown = key.decode("utf-8", "replace") if key is not None else None
        raise NonRetryableRecord("KeyMismatch", f"record key {shown!r} != couponId {request.couponId!r}")
    return request
