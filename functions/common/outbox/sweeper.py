"""The sweeper: republishes PENDING items older than `stale_after` (the relay failed, was down, or
its publish was lost), each under a lease so two sweepers never republish one item at once.

Every republished item is a warning and counts in OutboxStaleEvents; an item past `alert_attempts`
is also an alert (OutboxStuckEvents and an `ops.alert` event naming it) and is still retried.
The alert goes straight to Kafka, not through the outbox: it reports the outbox not keeping up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from common.ddb.attrs import ReadAttrs
from common.observability import logger
from common.outbox.envelope import OutboxEvent
from common.outbox.items import NotAnOutboxItem, event_from_item
from common.outbox.store import Claim
from common.ports import Publisher

ALERT_TYPE = "ops.alert"


class SweepStore(Protocol):
    def stale_pending(self, older_than: datetime, limit: int) -> list[ReadAttrs]: ...

    def claim(self, item: ReadAttrs, now: datetime, lease: timedelta) -> Claim | None: ...


@dataclass
class SweepResult:
    stale: int = 0
    republished: int = 0
    claimed_elsewhere: int = 0
    failed: int = 0
    stuck: list[str] = field(default_factory=list)
    republished_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SweepPolicy:
    stale_after: timedelta
    lease: timedelta
    alert_attempts: int
    alert_topic: str
    limit: int = 500


class Sweeper:
    def __init__(self, store: SweepStore, publisher: Publisher, policy: SweepPolicy) -> None:
        self.store = store
        self.publisher = publisher
        self.policy = policy

    def sweep(self, now: datetime) -> SweepResult:
        result = SweepResult()
        for item in self.store.stale_pending(now - self.policy.stale_after, self.policy.limit):
            result.stale += 1
            try:
                event = event_from_item(item)
            except NotAnOutboxItem as exc:
                result.failed += 1
                logger.error("pending index item is not an outbox item", extra={"reason": str(exc)})
                continue
            claim = self.store.claim(item, now, self.policy.lease)
            if claim is None:
                result.claimed_elsewhere += 1
                continue
            logger.warning(
                "republishing stale outbox event",
                extra={
                    "eventId": event.event_id,
                    "eventType": event.envelope.eventType,
                    "occurredAt": event.envelope.occurredAt,
                    "publishAttempts": claim.attempts,
                    "correlation_id": event.correlation_id,
                },
            )
            if claim.attempts > self.policy.alert_attempts:
                result.stuck.append(event.event_id)
                self._alert(event, claim.attempts, now)
            try:
                self.publisher.publish(
                    event.topic, event.kafka_key(), event.kafka_value(), event.kafka_headers()
                )
            except Exception:
                result.failed += 1
                logger.exception("republish failed", extra={"eventId": event.event_id})
                continue
            result.republished += 1
            result.republished_ids.append(event.event_id)
        return result

    def _alert(self, event: OutboxEvent, attempts: int, now: datetime) -> None:
        alert = OutboxEvent.new(
            ALERT_TYPE,
            "outbox",
            event.event_id,
            {
                "alert": "OutboxEventStuck",
                "eventId": event.event_id,
                "eventType": event.envelope.eventType,
                "topic": event.topic,
                "aggregateType": event.envelope.aggregateType,
                "aggregateId": event.envelope.aggregateId,
                "occurredAt": event.envelope.occurredAt,
                "publishAttempts": attempts,
            },
            now=now,
            correlation_id=event.correlation_id,
            event_id=str(uuid.uuid4()),
        )
        logger.error("outbox event stuck", extra={"eventId": event.event_id, "publishAttempts": attempts})
        try:
            self.publisher.publish(
                self.policy.alert_topic, alert.kafka_key(), alert.kafka_value(), alert.kafka_headers()
            )
        except Exception:
            # The metric still says it; the next sweep alerts again.
            logger.exception("ops.alert publish failed", extra={"eventId": event.event_id})
