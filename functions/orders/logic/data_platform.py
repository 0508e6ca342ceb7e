"""Forwarding order.completed to the data platform, an external HTTP system surge does not own.

Delivery is at least once: each event is sent with its eventId as `Idempotency-Key`, so the platform
can drop the copies a redelivery brings. While the platform fails, a record is retried with backoff
for up to `budget_s` inside the invocation; past it the record and every later one of the batch are
reported failed without being tried (the platform is down: trying each would only spend the
invocation's time), and the event source redelivers them. A record the platform rejects outright
(a 4xx other than 408/429) or that is not an event goes to `<topic>.dlt` with the reason.

Written here rather than with Powertools' BatchProcessor: it cannot stop trying the rest of a batch
once the endpoint is known to be down."""

from __future__ import annotations

import time
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

FORWARDED_EVENT = "order.completed"


class DeliveryFailed(Exception):
    """The platform did not take the event this time (unreachable, 5xx, 408, 429): try again."""


class DeliveryRejected(Exception):
    """The platform refused the event for good (another 4xx): retrying cannot help."""


class DataPlatform(Protocol):
    def send(self, envelope: EventEnvelope, correlation_id: str | None) -> None:
        """Deliver one event; raises DeliveryFailed or DeliveryRejected."""
        ...


@dataclass
class ForwardResult:
    delivered: int = 0
    ignored: int = 0
    retries: int = 0
    dead_lettered: int = 0
    failures: list[RecordRef] = field(default_factory=list)
    last_error: str | None = None


@dataclass(frozen=True)
class RetryBudget:
    budget_s: float = 20.0
    first_backoff_s: float = 0.2
    max_backoff_s: float = 2.0


class Forwarder:
    def __init__(
        self,
        platform: DataPlatform,
        retry: RetryBudget,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.platform = platform
        self.retry = retry
        self.sleep = sleep
        self.clock = clock

    def forward(self, batch: KafkaEvent, publisher: Publisher, now: datetime) -> ForwardResult:
        result = ForwardResult()
        platform_down = False
        for record in batch.iter_records():
            if platform_down:
                result.failures.append(RecordRef.of(record))
                continue
            correlation_id = correlation.from_record(record)
            try:
                try:
                    envelope = decode_json_value(record, EventEnvelope)
                except ValidationError as exc:
                    raise NonRetryableRecord("SchemaViolation", describe_validation_error(exc)) from exc
                if envelope.eventType != FORWARDED_EVENT:
                    result.ignored += 1
                    continue
                self._send_within_budget(envelope, correlation_id, result)
            except NonRetryableRecord as poison:
                if publish_dead_letter(publisher, f"{record.topic}.dlt", batch, record, poison, now):
                    result.dead_lettered += 1
                else:
                    result.failures.append(RecordRef.of(record))
            except DeliveryFailed as exc:
                platform_down = True
                result.last_error = str(exc)
                result.failures.append(RecordRef.of(record))
                logger.warning(
                    "data platform unavailable: the rest of the batch is retried later",
                    extra={"offset": record.offset, "error": str(exc), "correlation_id": correlation_id},
                )
        return result

    def _send_within_budget(
        self, envelope: EventEnvelope, correlation_id: str | None, result: ForwardResult
    ) -> None:
        deadline = self.clock() + self.retry.budget_s
        backoff = self.retry.first_backoff_s
        while True:
            try:
                self.platform.send(envelope, correlation_id)
            except DeliveryRejected as exc:
                raise NonRetryableRecord("DataPlatformRejected", str(exc)) from exc
            except DeliveryFailed:
                if self.clock() + backoff > deadline:
                    raise
                result.retries += 1
                self.sleep(backoff)
                backoff = min(self.retry.max_backoff_s, backoff * 2)
                continue
            result.delivered += 1
            return
