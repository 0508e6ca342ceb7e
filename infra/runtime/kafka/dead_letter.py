"""The Kafka dead-letter message (docs/event-sources.md, on-failure destinations); the destinations
themselves are in infra/runtime/destinations.py.

The Kafka message: `requestContext.condition` is "RetriesExhausted" (the spelling of AWS's Kafka
pages; other AWS pages write "RetryAttemptsExhausted") or "RecordAgeExceeded" (unconfirmed), and
`KafkaBatchInfo.recordInfo` holds the offset as a string and the record timestamp as an ISO string
(unconfirmed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from infra.runtime.destinations import Message, failure_envelope
from infra.runtime.kafka.events import KafkaBatch, batch_rows
from infra.runtime.retry import FailedRecords

KAFKA_CONDITIONS = {"retries_exhausted": "RetriesExhausted", "record_age_exceeded": "RecordAgeExceeded"}


def kafka_failure_messages(
    failed: FailedRecords[Any],
    *,
    source_kind: str,
    bootstrap_servers: str,
    event_source_arn: str | None,
    function_arn: str,
) -> list[Message]:
    """One dead-letter message per failed Record (events.py), each carrying the one-record
    event as `payload`, published with the record's original key."""
    messages: list[Message] = []
    for record in failed.items:
        one = KafkaBatch(
            source_kind,
            bootstrap_servers,
            event_source_arn,
            record.topic,
            record.partition,
            batch_rows([record]),
        )
        payload = one.to_event()
        record_time = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        doc = {
            **failure_envelope(failed, function_arn, KAFKA_CONDITIONS[failed.reason]),
            "KafkaBatchInfo": {
                "batchSize": failed.batch_size,
                "bootstrapServers": bootstrap_servers,
                "payloadSize": len(json.dumps(payload)),
                "recordInfo": {
                    "offset": str(record.offset),
                    "timestamp": record_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                },
            },
            "payload": payload,
        }
        messages.append((record.key, doc))
    return messages
