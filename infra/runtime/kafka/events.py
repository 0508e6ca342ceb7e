"""The event a Lambda function receives from a Kafka event source mapping (docs/event-sources.md).

Choice (unconfirmed): surge delivers one partition per invocation (the format allows several), so a
batch's retries, partial failures and commits concern exactly one partition. `key` is left out for
a null key and `value` for a tombstone (unconfirmed; consumers should also accept null).

Why `KafkaBatch` is deferred: building the payload (a dict and two base64 strings per record, then
JSON) costs several times what taking the record from the consumer does. Done in the runtime's
process it would share one interpreter lock with the HTTP API and every other source, so the source
hands the worker process raw rows (`batch_rows`, C-speed to extract and to marshal) and the worker
builds the payload on its own core (`KafkaBatch.to_event`). This module stays free of surge and
Kafka client imports: the worker loads it.
"""

from __future__ import annotations

import binascii
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

_TIMESTAMP_TYPES = ("CREATE_TIME", "LOG_APPEND_TIME")
_LOG_APPEND_TIME = 2  # confluent_kafka.TIMESTAMP_LOG_APPEND_TIME (not imported: see the docstring)
_RECORD_OVERHEAD = 160  # JSON field names and numbers of one record, roughly

Headers = list[tuple[str, bytes | None]]


class Record(NamedTuple):
    """One consumed record, as the Kafka source keeps it (`record_of` builds it from a message)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch
    timestamp_type: int  # an index into _TIMESTAMP_TYPES
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    size: int  # the bytes it adds to the Lambda payload, roughly (`payload_size`)


def record_of(message: Any) -> Record:
    """A confluent-kafka Message (without error) as a Record."""
    kind, timestamp = message.timestamp()
    key, value, headers = message.key(), message.value(), message.headers()
    data = (len(key) if key else 0) + (len(value) if value else 0)
    size = data * 4 // 3 + _RECORD_OVERHEAD
    if headers:
        # header bytes are written as numbers of up to 4 characters
        size += sum(len(name) + 4 * len(raw or b"") for name, raw in headers)
    return Record(
        message.topic(),
        message.partition(),
        message.offset(),
        timestamp,
        1 if kind == _LOG_APPEND_TIME else 0,
        key,
        value,
        headers,
        size,
    )


# One record on the wire: (offset, timestamp, timestamp_type, key, value, headers) of a Record.
Row = tuple[int, int, int, bytes | None, bytes | None, Headers | None]
_ROW_FIELDS = itemgetter(2, 3, 4, 5, 6, 7)
_SIZE = itemgetter(8)


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def signed_bytes(data: bytes) -> list[int]:
    """Header bytes as Java's signed bytes: UTF-8 "ë" (0xC3 0xAB) -> [-61, -85]."""
    return array("b", data).tolist()


def batch_rows(records: Sequence[Record]) -> list[Row]:
    """The wire rows of Records (a C-level map: no Python code per record)."""
    return list(map(_ROW_FIELDS, records))


def lambda_record(topic: str, partition: int, row: Row) -> dict[str, Any]:
    """One record of the Lambda payload."""
    offset, timestamp, timestamp_type, key, value, headers = row
    out: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "timestampType": _TIMESTAMP_TYPES[timestamp_type] if timestamp_type in (0, 1) else "CREATE_TIME",
    }
    if key is not None:
        out["key"] = _b64(key)
    if value is not None:
        out["value"] = _b64(value)
    out["headers"] = [{name: signed_bytes(data or b"")} for name, data in headers or ()]
    return out


def payload_size(records: Sequence[Record]) -> int:
    """Approximate bytes these Records add to the JSON payload (base64 grows data by 4/3; header
    bytes are written as numbers of up to 4 characters), summed at C speed."""
    return sum(map(_SIZE, records))


@dataclass(frozen=True)
class KafkaBatch:
    """One invocation's Kafka event before it is built: the records of one partition as rows."""

    source_kind: str  # "SelfManagedKafka" or "MSK"
    bootstrap_servers: str
    event_source_arn: str | None
    topic: str
    partition: int
    rows: list[Row]

    def wire(self) -> tuple[Any, ...]:
        """Plain values only (marshal-able), rebuilt by `from_wire` in the worker."""
        return (
            self.source_kind,
            self.bootstrap_servers,
            self.event_source_arn,
            self.topic,
            self.partition,
            self.rows,
        )

    @classmethod
    def from_wire(cls, fields: Sequence[Any]) -> KafkaBatch:
        return cls(*fields)

    def to_event(self) -> dict[str, Any]:
        """The whole Lambda payload."""
        event: dict[str, Any] = {
            "eventSource": "aws:kafka" if self.source_kind == "MSK" else "SelfManagedKafka"
        }
        if self.source_kind == "MSK":
            event["eventSourceArn"] = self.event_source_arn
        event["bootstrapServers"] = self.bootstrap_servers
        topic, partition = self.topic, self.partition
        event["records"] = {
            f"{topic}-{partition}": [lambda_record(topic, partition, row) for row in self.rows]
        }
        return event
