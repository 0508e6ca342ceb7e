"""An outbox event, and the envelope it travels in on Kafka.

On Kafka an event is {eventId, eventType, occurredAt, aggregateType, aggregateId, payload}, keyed by
aggregateId (one aggregate's events share a partition, so they keep their order), with headers
eventId, eventType and the correlation id. Its topic is its eventType (`<domain>.<event>`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common import correlation
from common.types import iso

EVENT_ID_HEADER = "eventId"
EVENT_TYPE_HEADER = "eventType"


class EventEnvelope(BaseModel):
    """What consumers receive; `payload` is the capability's own event body."""

    model_config = ConfigDict(frozen=True)

    eventId: str = Field(min_length=1, max_length=64)
    eventType: str = Field(min_length=1, max_length=128)
    occurredAt: str
    aggregateType: str = Field(min_length=1, max_length=64)
    aggregateId: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any]


class OutboxEvent(BaseModel):
    """One event to publish: the envelope plus where and how it travels."""

    model_config = ConfigDict(frozen=True)

    envelope: EventEnvelope
    topic: str
    correlation_id: str | None = None

    @classmethod
    def new(
        cls,
        event_type: str,
        aggregate_type: str,
        aggregate_id: str,
        payload: dict[str, Any],
        *,
        now: datetime,
        correlation_id: str | None,
        event_id: str | None = None,
    ) -> OutboxEvent:
        envelope = EventEnvelope(
            eventId=event_id or str(uuid.uuid4()),
            eventType=event_type,
            occurredAt=iso(now),
            aggregateType=aggregate_type,
            aggregateId=aggregate_id,
            payload=payload,
        )
        return cls(envelope=envelope, topic=event_type, correlation_id=correlation_id)

    @property
    def event_id(self) -> str:
        return self.envelope.eventId

    def kafka_key(self) -> bytes:
        return self.envelope.aggregateId.encode()

    def kafka_value(self) -> bytes:
        return self.envelope.model_dump_json().encode()

    def kafka_headers(self) -> tuple[tuple[str, bytes], ...]:
        return (
            (EVENT_ID_HEADER, self.envelope.eventId.encode()),
            (EVENT_TYPE_HEADER, self.envelope.eventType.encode()),
            ("content-type", b"application/json"),
            *correlation.kafka_header(self.correlation_id),
        )


def payload_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)
