"""Reading a dead-letter topic's messages: both formats surge writes, decoded to the original record.

- AWS's on-failure message (what the event source mapping sends to a `kafka://` destination, see
  infra/runtime/kafka/dead_letter.py): `requestContext.condition`, `responseContext.functionError`,
  `requestContext.approximateInvokeCount`, `timestamp`, and the one-record event under `payload`.
- The coupon issuer's own envelope for records that can never succeed: `condition`
  "NonRetryableError", `reason`, `errorType`, `timestamp` and the same `payload`.

In both, `payload.records` holds exactly one record as Lambda delivers it: key and value base64 (a
null key or value is left out), headers as `[{name: [signed Java bytes]}]`. Anything else raises
`NotADeadLetter` with the reason, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Added to every re-driven record: how often it was re-driven, and from which dead letter.
REDRIVE_COUNT_HEADER = "surge-redrive-count"
REDRIVE_ORIGIN_HEADER = "surge-redrive-origin"
_SURGE_HEADERS = (REDRIVE_COUNT_HEADER, REDRIVE_ORIGIN_HEADER)

Headers = list[tuple[str, bytes]]


class NotADeadLetter(ValueError):
    """The message is not a surge/AWS dead letter; the text says why."""


@dataclass(frozen=True)
class OriginalRecord:
    """The record that failed, exactly as it was on its source topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def redrive_count(self) -> int:
        """How often this record was re-driven already (0 for a record that never was)."""
        for name, value in self.headers:
            if name == REDRIVE_COUNT_HEADER:
                try:
                    return int(value.decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    return 0
        return 0

    def redriven_headers(self, origin: str) -> Headers:
        """The original headers in their order, then surge's re-drive headers (replacing old ones)."""
        kept = [(name, value) for name, value in self.headers if name not in _SURGE_HEADERS]
        return [
            *kept,
            (REDRIVE_COUNT_HEADER, str(self.redrive_count + 1).encode("ascii")),
            (REDRIVE_ORIGIN_HEADER, origin.encode("utf-8")),
        ]


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter message: where it sits in the DLT, why the record failed, and the record."""

    dlt_topic: str
    dlt_partition: int
    dlt_offset: int
    dlt_timestamp_ms: int
    format: str  # "aws" (the event source's on-failure message) or "surge" (the function's own)
    condition: str  # RetriesExhausted, RecordAgeExceeded, NonRetryableError
    error_type: str | None  # the function's errorType, or AWS's responseContext.functionError
    reason: str | None  # the function's explanation (AWS's message has none)
    attempts: int | None  # approximateInvokeCount (AWS only)
    failed_at: str | None  # the message's own `timestamp`
    function_arn: str | None
    record: OriginalRecord

    @property
    def origin(self) -> str:
        """Names this dead letter; re-driven records carry it in REDRIVE_ORIGIN_HEADER."""
        return f"{self.dlt_topic}/{self.dlt_partition}/{self.dlt_offset}"

    def matches_reason(self, wanted: str) -> bool:
        """`wanted` equals the condition or errorType (case-insensitive), or occurs in the reason."""
        wanted = wanted.casefold()
        exact = {value.casefold() for value in (self.condition, self.error_type) if value}
        return wanted in exact or (self.reason is not None and wanted in self.reason.casefold())


def parse_dead_letter(
    topic: str, partition: int, offset: int, timestamp_ms: int, value: bytes | None
) -> DeadLetter:
    """Decode one DLT message; raises NotADeadLetter (with the reason) for anything else."""
    if value is None:
        raise NotADeadLetter("empty message (tombstone)")
    try:
        doc = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotADeadLetter(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise NotADeadLetter(f"JSON {type(doc).__name__}, not an object")
    where = (topic, partition, offset, timestamp_ms)
    if isinstance(doc.get("requestContext"), dict):
        return _aws_message(where, doc)
    if doc.get("condition") == "NonRetryableError":
        return _surge_message(where, doc)
    raise NotADeadLetter("neither AWS's on-failure message (requestContext) nor surge's (condition, reason)")


def _aws_message(where: tuple[str, int, int, int], doc: dict[str, Any]) -> DeadLetter:
    request = doc["requestContext"]
    response = doc.get("responseContext")
    if not isinstance(response, dict):
        response = {}
    condition = request.get("condition")
    if not isinstance(condition, str):
        raise NotADeadLetter("AWS on-failure message without requestContext.condition")
    attempts = request.get("approximateInvokeCount")
    return DeadLetter(
        *where,
        format="aws",
        condition=condition,
        error_type=_text_or_none(response.get("functionError")),
        reason=None,
        attempts=attempts if isinstance(attempts, int) else None,
        failed_at=_text_or_none(doc.get("timestamp")),
        function_arn=_text_or_none(request.get("functionArn")),
        record=_payload_record(doc.get("payload")),
    )


def _surge_message(where: tuple[str, int, int, int], doc: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        *where,
        format="surge",
        condition="NonRetryableError",
        error_type=_text_or_none(doc.get("errorType")),
        reason=_text_or_none(doc.get("reason")),
        attempts=None,
        failed_at=_text_or_none(doc.get("timestamp")),
        function_arn=None,
        record=_payload_record(doc.get("payload")),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _payload_record(payload: Any) -> OriginalRecord:
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), dict):
        raise NotADeadLetter("no `payload.records` (the original record) in the message")
    records = [record for batch in payload["records"].values() for record in (batch or [])]
    if len(records) != 1:
        raise NotADeadLetter(f"`payload.records` holds {len(records)} records, not exactly one")
    record = records[0]
    if not isinstance(record, dict):
        raise NotADeadLetter("the record in `payload.records` is not an object")
    topic, partition, offset = record.get("topic"), record.get("partition"), record.get("offset")
    if not isinstance(topic, str) or not isinstance(partition, int) or not isinstance(offset, int):
        raise NotADeadLetter("the original record lacks topic, partition or offset")
    timestamp = record.get("timestamp")
    return OriginalRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp if isinstance(timestamp, int) else None,
        key=_b64("key", record.get("key")),
        value=_b64("value", record.get("value")),
        headers=_headers(record.get("headers")),
    )


def _b64(field: str, encoded: Any) -> bytes | None:
    if encoded is None:
        return None
    if not isinstance(encoded, str):
        raise NotADeadLetter(f"the original record's {field} is not a base64 string")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotADeadLetter(f"the original record's {field} is not valid base64") from exc


def _headers(raw: Any) -> Headers:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise NotADeadLetter("the original record's headers are not a list")
    headers: Headers = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise NotADeadLetter("a header of the original record is not an object")
        for name, data in entry.items():
            headers.append((name, _java_bytes(name, data)))
    return headers


def _java_bytes(name: str, data: Any) -> bytes:
    """Lambda writes header bytes as signed Java bytes ([-61, -85] for UTF-8 "ë")."""
    if not isinstance(data, list) or not all(isinstance(b, int) and -128 <= b <= 255 for b in data):
        raise NotADeadLetter(f"header {name!r} is not a list of bytes")
    return bytes(b & 0xFF for b in data)


def iso_ms(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe_bytes(data: bytes | None) -> tuple[str, str]:
    """(kind, text) for showing a key or value: ("null", ""), ("json", pretty), ("text", ...) or
    ("base64", ...) for bytes that are not UTF-8 text."""
    if data is None:
        return "null", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode("ascii")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict | list):
        return "json", json.dumps(parsed, indent=2, ensure_ascii=False)
    if text.isprintable():
        return "text", text
    return "base64", base64.b64encode(data).decode("ascii")


def describe_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, str, str]]:
    """(name, kind, text) per header: text when printable UTF-8, else base64."""
    shown = []
    for name, value in headers:
        try:
            text = value.decode("utf-8")
            if text.isprintable():
                shown.append((name, "text", text))
                continue
        except UnicodeDecodeError:
            pass
        shown.append((name, "base64", base64.b64encode(value).decode("ascii")))
    return shown
