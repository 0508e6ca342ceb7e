"""The event a Lambda function receives from a Kafka event source mapping (kafka-esm.md section 1).

Choice (unconfirmed): surge delivers one partition per invocation (the format allows several), so a
batch's retries, partial failures and commits concern exactly one partition. `key` is left out for
a null key and `value` for a tombstone (unconfirmed; consumers should also accept null).
"""

from __future__ import annotations

import binascii
from array import array
from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter
from typing import Any

_TIMESTAMP_TYPES = ("CREATE_TIME", "LOG_APPEND_TIME")
_RECORD_OVERHEAD = 160  # JSON field names and numbers of one record, roughly


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def signed_bytes(data: bytes) -> list[int]:
    """Header bytes as Java's signed bytes: UTF-8 "ë" (0xC3 0xAB) -> [-61, -85]."""
    return array("b", data).tolist()


def kafka_record(record: Any) -> dict[str, Any]:
    """One record of the payload from a kafka-python `ConsumerRecord` (raw bytes key/value)."""
    out: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestampType": _TIMESTAMP_TYPES[record.timestamp_type]
        if record.timestamp_type in (0, 1)
        else "CREATE_TIME",
    }
    if record.key is not None:
        out["key"] = _b64(record.key)
    if record.value is not None:
        out["value"] = _b64(record.value)
    out["headers"] = [{name: signed_bytes(value or b"")} for name, value in record.headers or ()]
    return out


def record_payload_size(record: Any) -> int:
    """Approximate bytes this record adds to the JSON payload (base64 grows data by 4/3; header
    bytes are written as numbers of up to 4 characters)."""
    key = max(record.serialized_key_size, 0)
    value = max(record.serialized_value_size, 0)
    headers = max(record.serialized_header_size, 0)
    return (key + value) * 4 // 3 + headers * 4 + _RECORD_OVERHEAD


def kafka_event(
    source_kind: str,
    bootstrap_servers: str,
    event_source_arn: str | None,
    records: Iterable[dict[str, Any]],
) -> dict[str, Any]:
    """The whole payload; records are grouped under "<topic>-<partition>" in the order given."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), group in groupby(records, key=itemgetter("topic", "partition")):
        grouped.setdefault(f"{topic}-{partition}", []).extend(group)
    event: dict[str, Any] = {"eventSource": "aws:kafka" if source_kind == "MSK" else "SelfManagedKafka"}
    if source_kind == "MSK":
        event["eventSourceArn"] = event_source_arn
    event["bootstrapServers"] = bootstrap_servers
    event["records"] = grouped
    return event
