"""The saga's consumers: each turns one event into one transaction (inbox first), so a duplicate
delivery or a sweeper copy changes nothing twice; events they cause carry the same correlation id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from common.observability import logger
from common.outbox.envelope import EventEnvelope, OutboxEvent
from orders.logic.orders import AGGREGATE
from orders.models.api import Notification, OrderLine, OrderStatus

if TYPE_CHECKING:
    from orders.dal.orders_repo import OrdersRepository, Outcome


class OrderPayload(BaseModel):
    orderId: str
    userId: str
    items: list[OrderLine]
    total: int
    couponId: str | None = None


@dataclass(frozen=True)
class Effect:
    name: str  # what happened, for metrics and logs
    duplicate: bool = False


def _follow_up(
    event_type: str, cause: EventEnvelope, now: datetime, correlation_id: str | None, **payload: Any
) -> OutboxEvent:
    return OutboxEvent.new(
        event_type, AGGREGATE, cause.aggregateId, payload, now=now, correlation_id=correlation_id
    )


def _effect(name: str, outcome: Outcome) -> Effect:
    if outcome.duplicate:
        return Effect("duplicate", duplicate=True)
    if not outcome.applied:
        logger.warning(
            "event refused by a condition", extra={"effect": name, "refusedAt": outcome.refused_at}
        )
        return Effect(f"{name}_refused")
    return Effect(name)


class InventoryConsumer:
    """order.created -> reserve every line or none; order.cancelled or payment.refunded -> give the
    stock back (once per event; an order is cancelled or refunded, never both)."""

    name = "inventory"

    def __init__(self, repository: OrdersRepository) -> None:
        self.repository = repository

    def handle(self, envelope: EventEnvelope, correlation_id: str | None, now: datetime) -> Effect:
        order = OrderPayload.model_validate(envelope.payload)
        if envelope.eventType == "order.created":
            reserved = _follow_up("inventory.reserved", envelope, now, correlation_id, **order.model_dump())
            outcome = self.repository.reserve(self.name, envelope.eventId, order.items, reserved, now)
            if outcome.applied or outcome.duplicate:
                return _effect("reserved", outcome)
            # A line lacked stock (the transaction wrote nothing): reject, once.
            rejected = _follow_up(
                "inventory.rejected",
                envelope,
                now,
                correlation_id,
                **order.model_dump(),
                reason="OUT_OF_STOCK",
            )
            return _effect(
                "rejected", self.repository.record_only(self.name, envelope.eventId, rejected, now)
            )
        if envelope.eventType in ("order.cancelled", "payment.refunded"):
            return _effect("restored", self.repository.restore(self.name, envelope.eventId, order.items, now))
        return Effect("ignored")


class OrderEventsConsumer:
    """The order's status follows the saga: reserved -> RESERVED, rejected -> CANCELLED (OUT_OF_STOCK),
    payment.completed -> COMPLETED + order.completed. Each transition is conditional on the status."""

    name = "order"

    def __init__(self, repository: OrdersRepository) -> None:
        self.repository = repository

    def handle(self, envelope: EventEnvelope, correlation_id: str | None, now: datetime) -> Effect:
        order = OrderPayload.model_validate(envelope.payload)
        r, eid, oid = self.repository, envelope.eventId, order.orderId
        if envelope.eventType == "inventory.reserved":
            return _effect(
                "reserved", r.transition(self.name, eid, oid, OrderStatus.CREATED, OrderStatus.RESERVED, now)
            )
        if envelope.eventType == "inventory.rejected":
            outcome = r.transition(
                self.name, eid, oid, OrderStatus.CREATED, OrderStatus.CANCELLED, now, reason="OUT_OF_STOCK"
            )
            return _effect("rejected", outcome)
        if envelope.eventType == "payment.completed":
            completed = _follow_up("order.completed", envelope, now, correlation_id, **order.model_dump())
            outcome = r.transition(
                self.name, eid, oid, OrderStatus.PAID, OrderStatus.COMPLETED, now, event=completed
            )
            return _effect("completed", outcome)
        return Effect("ignored")


class NotificationConsumer:
    """Exactly one notification per payment.completed (the inbox and the notification in one put)."""

    name = "notification"

    def __init__(self, repository: OrdersRepository) -> None:
        self.repository = repository

    def handle(self, envelope: EventEnvelope, correlation_id: str | None, now: datetime) -> Effect:
        if envelope.eventType != "payment.completed":
            return Effect("ignored")
        order = OrderPayload.model_validate(envelope.payload)
        notification = Notification(
            notificationId=envelope.eventId,
            userId=order.userId,
            orderId=order.orderId,
            message=f"Payment of {order.total} points received for order {order.orderId}",
            createdAt=envelope.occurredAt,
        )
        return _effect("notified", self.repository.notify(self.name, envelope.eventId, notification, now))
