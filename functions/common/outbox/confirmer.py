"""The confirmer: every event read back from Kafka marks its outbox item PUBLISHED (conditionally,
so a duplicate or a republished copy changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from common.kafka_records import KafkaEvent, NonRetryableRecord, RecordRef, decode_json_value
from common.observability import logger
from common.outbox.envelope import EventEnvelope


class PublishedMarker(Protocol):
    def mark_published(
        self, envelope: EventEnvelope, now: datetime, on_kafka_ms: int | None = None
    ) -> bool: ...


@dataclass
class ConfirmResult:
    confirmed: int = 0
    already: int = 0
    not_outbox: int = 0
    failures: list[RecordRef] = field(default_factory=list)


class Confirmer:
    def __init__(self, store: PublishedMarker) -> None:
        self.store = store

    def process(self, batch: KafkaEvent, now: datetime) -> ConfirmResult:
        result = ConfirmResult()
        for record in batch.iter_records():
            try:
                envelope = decode_json_value(record, EventEnvelope)
            except NonRetryableRecord as exc:
                # Not an outbox event: nothing to confirm (its consumers dead-letter it themselves).
                result.not_outbox += 1
                logger.warning(
                    "record is not an outbox event", extra={"reason": exc.reason, "topic": record.topic}
                )
                continue
            try:
                if self.store.mark_published(envelope, now, record.timestamp):
                    result.confirmed += 1
                else:
                    result.already += 1
            except Exception:
                logger.exception("confirm failed", extra={"eventId": envelope.eventId})
                result.failures.append(RecordRef.of(record))
        return result
