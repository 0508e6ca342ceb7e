"""The relay: outbox INSERTs from the table's stream, published to Kafka in stream order.

It does not mark items: an event read back from Kafka (the confirmer) is the proof of publication.
On the first failed publish it stops and reports that record (ReportBatchItemFailures): the event
source retries from it, so the records after it are not published ahead of it (per-aggregate order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.observability import logger
from common.outbox.items import NotAnOutboxItem, event_from_item
from common.ports import Publisher


@dataclass
class RelayResult:
    published: int = 0
    not_outbox: int = 0
    failed_sequence: str | None = None
    correlation_ids: list[str] = field(default_factory=list)

    def batch_response(self) -> dict[str, list[dict[str, str]]]:
        failures = [{"itemIdentifier": self.failed_sequence}] if self.failed_sequence else []
        return {"batchItemFailures": failures}


class Relay:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def process(self, records: list[dict[str, Any]]) -> RelayResult:
        result = RelayResult()
        for record in records:
            data = record.get("dynamodb") or {}
            try:
                event = event_from_item(data.get("NewImage") or {})
            except NotAnOutboxItem as exc:
                # The filter lets only outbox INSERTs through; anything else can never be published.
                result.not_outbox += 1
                logger.error("stream record is not an outbox item", extra={"reason": str(exc)})
                continue
            try:
                self.publisher.publish(
                    event.topic, event.kafka_key(), event.kafka_value(), event.kafka_headers()
                )
            except Exception:
                logger.exception(
                    "relay publish failed", extra={"eventId": event.event_id, "topic": event.topic}
                )
                result.failed_sequence = str(data.get("SequenceNumber") or "")
                return result
            result.published += 1
            if event.correlation_id:
                result.correlation_ids.append(event.correlation_id)
        return result
