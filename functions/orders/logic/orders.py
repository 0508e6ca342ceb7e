"""The orders API's rules: prices are read when the order is placed; payment, cancel and every event
happen in one transaction with their change (the repository's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from common.outbox.envelope import OutboxEvent
from common.types import iso
from orders.errors import NotFound, OrderError, WrongStatus
from orders.models.api import (
    CreateOrderRequest,
    CreateProductRequest,
    Notification,
    Order,
    OrderStatus,
    Points,
    Product,
)

if TYPE_CHECKING:
    from orders.dal.orders_repo import OrdersRepository

AGGREGATE = "order"
CANCELLED_BY_USER = "CANCELLED_BY_USER"
PAYMENT_TIMEOUT = "PAYMENT_TIMEOUT"


def order_event(
    event_type: str, order: Order, now: datetime, correlation_id: str | None, **extra: object
) -> OutboxEvent:
    payload = {
        "orderId": order.orderId,
        "userId": order.userId,
        "items": [line.model_dump() for line in order.items],
        "total": order.total,
        "couponId": order.couponId,
        **extra,
    }
    return OutboxEvent.new(
        event_type, AGGREGATE, order.orderId, payload, now=now, correlation_id=correlation_id
    )


class OrderService:
    def __init__(self, repository: OrdersRepository) -> None:
        self.repository = repository

    def create_product(self, request: CreateProductRequest) -> Product:
        product = Product(**request.model_dump())
        self.repository.put_product(product)
        return product

    def get_product(self, product_id: str) -> Product:
        product = self.repository.get_product(product_id)
        if product is None:
            raise NotFound(f"product {product_id!r} not found")
        return product

    def top_up(self, user_id: str, amount: int) -> Points:
        return Points(userId=user_id, balance=self.repository.top_up(user_id, amount))

    def get_points(self, user_id: str) -> Points:
        return self.repository.get_points(user_id)

    def place_order(self, request: CreateOrderRequest, now: datetime, correlation_id: str | None) -> Order:
        total = 0
        for n, line in enumerate(request.items):
            product = self.repository.get_product(line.productId)
            if product is None:
                raise OrderError(f"items.{n}.productId: product {line.productId!r} not found")
            total += product.price * line.quantity
        order = Order(
            orderId=str(uuid.uuid4()),
            userId=request.userId,
            status=OrderStatus.CREATED,
            items=request.items,
            total=total,
            couponId=request.couponId,
            createdAt=iso(now),
            updatedAt=iso(now),
        )
        self.repository.place_order(order, order_event("order.created", order, now, correlation_id))
        return order

    def get_order(self, order_id: str) -> Order:
        order = self.repository.get_order(order_id)
        if order is None:
            raise NotFound(f"order {order_id!r} not found")
        return order

    def pay(self, order_id: str, now: datetime, correlation_id: str | None) -> Order:
        order = self.get_order(order_id)
        if order.status is not OrderStatus.RESERVED:
            raise WrongStatus(f"order {order_id!r} is {order.status.value}, not RESERVED")
        event = order_event("payment.completed", order, now, correlation_id, amount=order.total)
        self.repository.pay(order, event, now)
        return order.model_copy(update={"status": OrderStatus.PAID, "updatedAt": iso(now)})

    def cancel(
        self, order_id: str, now: datetime, correlation_id: str | None, reason: str = CANCELLED_BY_USER
    ) -> Order:
        """Only a RESERVED order is cancelled: before its reservation there is no stock to give back
        yet (the inventory consumer would reserve it after the cancel), so that is a 409 to retry."""
        order = self.get_order(order_id)
        if order.status is not OrderStatus.RESERVED:
            raise WrongStatus(f"order {order_id!r} is {order.status.value}, not RESERVED")
        event = order_event("order.cancelled", order, now, correlation_id, reason=reason)
        self.repository.cancel(order, event, now, reason)
        return order.model_copy(
            update={"status": OrderStatus.CANCELLED, "reason": reason, "updatedAt": iso(now)}
        )

    def refund(self, order_id: str, now: datetime, correlation_id: str | None) -> Order:
        order = self.get_order(order_id)
        event = order_event("payment.refunded", order, now, correlation_id, amount=order.total)
        self.repository.refund(order, event, now)
        return order.model_copy(update={"status": OrderStatus.REFUNDED, "updatedAt": iso(now)})

    def notifications(self, user_id: str) -> list[Notification]:
        return self.repository.notifications(user_id)
