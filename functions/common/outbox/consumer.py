"""Running an outbox event consumer over a Kafka batch: decode each envelope, apply it, and answer
with the partial batch response. A record that can never be applied (not an envelope, a payload of
the wrong shape) goes to `<topic>.dlt` with the reason; any other failure is retried by the event
source (the consumer's inbox makes the redelivered neighbours no-ops)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from common import correlation
from common.dead_letters import publish_dead_letter
from common.kafka_records import (
    KafkaEvent,
    NonRetryableRecord,
    RecordRef,
    decode_json_value,
    describe_validation_error,
)
from common.observability import logger
from common.outbox.envelope import EventEnvelope
from common.ports import Publisher


class Applied(Protocol):
    @property
    def name(self) -> str: ...


Handler = Callable[[EventEnvelope, str | None, datetime], Applied]


@dataclass
class ConsumeResult:
    effects: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    failures: list[RecordRef] = field(default_factory=list)


def consume(batch: KafkaEvent, handle: Handler, publisher: Publisher, now: datetime) -> ConsumeResult:
    result = ConsumeResult()
    for record in batch.iter_records():
        correlation_id = correlation.from_record(record)
        try:
            try:
                envelope = decode_json_value(record, EventEnvelope)
                effect = handle(envelope, correlation_id, now)
            except ValidationError as exc:
                raise NonRetryableRecord("SchemaViolation", describe_validation_error(exc)) from exc
        except NonRetryableRecord as poison:
            if publish_dead_letter(publisher, f"{record.topic}.dlt", batch, record, poison, now):
                result.dead_lettered += 1
            else:
                result.failures.append(RecordRef.of(record))
            continue
        except Exception:
            logger.exception(
                "event failed",
                extra={"topic": record.topic, "offset": record.offset, "correlation_id": correlation_id},
            )
            result.failures.append(RecordRef.of(record))
            continue
        result.effects[effect.name] += 1
        logger.debug(
            "event applied",
            extra={"eventId": envelope.eventId, "effect": effect.name, "correlation_id": correlation_id},
        )
    return result
