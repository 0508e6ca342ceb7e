"""The orders table's access (the only DynamoDB code of orders). Every change that has an event
writes it in the same TransactWriteItems (common.outbox); every consumer effect starts with its inbox
item, so a duplicate event cancels the transaction and changes nothing.

Conditions that carry the invariants:
- stock `stock >= :q` on every decrement of a reservation: never negative, all lines or none;
- points `balance >= :total`: never negative, and with the order's `status = RESERVED` condition in
  the same transaction a payment happens once;
- coupon `attribute_exists(pk) AND attribute_not_exists(usedAt)`: issued to this user, used once.

A RESERVED order carries `awaitingBucket` / `awaitingSince`, the keys of the sparse `awaiting-payment`
index (oldest first): the payment-timeout sweep finds expired reservations there without a scan.
Every transition out of RESERVED removes them.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.ddb.attrs import Attrs, ReadAttrs
from common.outbox.envelope import OutboxEvent
from common.outbox.inbox import cancellation_codes, inbox_put
from common.outbox.items import outbox_put
from common.types import iso
from orders.errors import AlreadyExists, CouponNotUsable, InsufficientPoints, WrongStatus
from orders.models.api import Notification, Order, OrderLine, OrderStatus, Points, Product

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def product_key(product_id: str) -> Attrs:
    return {"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": "PRODUCT"}}


def points_key(user_id: str) -> Attrs:
    return {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "POINTS"}}


def order_key(order_id: str) -> Attrs:
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}}


def payment_key(order_id: str) -> Attrs:
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "PAYMENT"}}


def coupon_issued_key(coupon_id: str, user_id: str) -> Attrs:
    """The coupons capability's issued row (coupons/dal/codec.py issued_key)."""
    return {"pk": {"S": f"COUPON#{coupon_id}"}, "sk": {"S": f"USER#{user_id}"}}


AWAITING_INDEX = "awaiting-payment"
AWAITING_BUCKETS = 4  # spreads a surge's reservations over a few index partitions, not one hot key


def awaiting_bucket(order_id: str) -> str:
    return f"AWAITING#{zlib.crc32(order_id.encode()) % AWAITING_BUCKETS}"


def _order_from(item: ReadAttrs) -> Order:
    return Order(
        orderId=item["orderId"]["S"],
        userId=item["userId"]["S"],
        status=OrderStatus(item["status"]["S"]),
        reason=item.get("reason", {}).get("S"),
        items=[OrderLine(**line) for line in json.loads(item["items"]["S"])],
        total=int(item["total"]["N"]),
        couponId=item.get("couponId", {}).get("S"),
        createdAt=item["createdAt"]["S"],
        updatedAt=item["updatedAt"]["S"],
    )


def _cancelled(error: ClientError) -> list[str] | None:
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return cancellation_codes(error)


@dataclass(frozen=True)
class Outcome:
    """A consumer transaction's result: applied, a duplicate (inbox), or refused by a condition."""

    applied: bool
    duplicate: bool = False
    refused_at: int | None = None


class OrdersRepository:
    def __init__(self, client: DynamoDBClient, table: str, outbox_table: str, coupons_table: str) -> None:
        self.client = client
        self.table = table
        self.outbox_table = outbox_table
        self.coupons_table = coupons_table

    # ---- products and points -----------------------------------------------------------------

    def put_product(self, product: Product) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **product_key(product.productId),
                    "productId": {"S": product.productId},
                    "name": {"S": product.name},
                    "price": {"N": str(product.price)},
                    "stock": {"N": str(product.stock)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise AlreadyExists(f"product {product.productId!r} already exists") from exc
            raise

    def get_product(self, product_id: str) -> Product | None:
        item = self.client.get_item(TableName=self.table, Key=product_key(product_id), ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None
        return Product(
            productId=product_id,
            name=found["name"]["S"],
            price=int(found["price"]["N"]),
            stock=int(found["stock"]["N"]),
        )

    def top_up(self, user_id: str, amount: int) -> int:
        answer = self.client.update_item(
            TableName=self.table,
            Key=points_key(user_id),
            UpdateExpression="ADD balance :amount SET userId = :user",
            ExpressionAttributeValues={":amount": {"N": str(amount)}, ":user": {"S": user_id}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["balance"]["N"])

    def get_points(self, user_id: str) -> Points:
        item = self.client.get_item(TableName=self.table, Key=points_key(user_id), ConsistentRead=True)
        balance = int(item.get("Item", {}).get("balance", {}).get("N", "0"))
        return Points(userId=user_id, balance=balance)

    # ---- orders --------------------------------------------------------------------------------

    def get_order(self, order_id: str) -> Order | None:
        item = self.client.get_item(TableName=self.table, Key=order_key(order_id), ConsistentRead=True)
        return _order_from(item["Item"]) if "Item" in item else None

    def place_order(self, order: Order, event: OutboxEvent) -> None:
        item: Attrs = {
            **order_key(order.orderId),
            "entity": {"S": "ORDER"},
            "orderId": {"S": order.orderId},
            "userId": {"S": order.userId},
            "status": {"S": order.status.value},
            "items": {"S": json.dumps([line.model_dump() for line in order.items])},
            "total": {"N": str(order.total)},
            "createdAt": {"S": order.createdAt},
            "updatedAt": {"S": order.updatedAt},
        }
        if order.couponId:
            item["couponId"] = {"S": order.couponId}
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                outbox_put(self.outbox_table, event),
            ]
        )

    def _transition(
        self, order_id: str, expected: OrderStatus, to: OrderStatus, now: datetime, reason: str | None = None
    ) -> TransactWriteItemTypeDef:
        values: dict[str, Any] = {
            ":from": {"S": expected.value},
            ":to": {"S": to.value},
            ":now": {"S": iso(now)},
        }
        update = "SET #status = :to, updatedAt = :now"
        if reason:
            update += ", reason = :reason"
            values[":reason"] = {"S": reason}
        if to is OrderStatus.RESERVED:
            update += ", awaitingBucket = :bucket, awaitingSince = :since"
            values[":bucket"] = {"S": awaiting_bucket(order_id)}
            values[":since"] = {"S": f"{iso(now)}#{order_id}"}
        if expected is OrderStatus.RESERVED:
            update += " REMOVE awaitingBucket, awaitingSince"
        return {
            "Update": {
                "TableName": self.table,
                "Key": order_key(order_id),
                "UpdateExpression": update,
                "ConditionExpression": "#status = :from",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        }

    def pay(self, order: Order, event: OutboxEvent, now: datetime) -> None:
        """Points, payment row, order PAID, coupon USED and payment.completed: all or nothing."""
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": points_key(order.userId),
                    "UpdateExpression": "SET balance = balance - :total",
                    "ConditionExpression": "balance >= :total",
                    "ExpressionAttributeValues": {":total": {"N": str(order.total)}},
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **payment_key(order.orderId),
                        "entity": {"S": "PAYMENT"},
                        "orderId": {"S": order.orderId},
                        "userId": {"S": order.userId},
                        "amount": {"N": str(order.total)},
                        "paidAt": {"S": iso(now)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._transition(order.orderId, OrderStatus.RESERVED, OrderStatus.PAID, now),
            outbox_put(self.outbox_table, event),
        ]
        if order.couponId:
            actions.append(
                {
                    "Update": {
                        "TableName": self.coupons_table,
                        "Key": coupon_issued_key(order.couponId, order.userId),
                        "UpdateExpression": "SET usedAt = :now, usedBy = :order",
                        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(usedAt)",
                        "ExpressionAttributeValues": {
                            ":now": {"S": iso(now)},
                            ":order": {"S": order.orderId},
                        },
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            codes = _cancelled(exc)
            if codes is None:
                raise
            failed = [n for n, code in enumerate(codes) if code == "ConditionalCheckFailed"]
            if 1 in failed or 2 in failed:
                raise WrongStatus(f"order {order.orderId!r} is not RESERVED") from exc
            if 0 in failed:
                raise InsufficientPoints(
                    f"user {order.userId!r} has fewer than {order.total} points"
                ) from exc
            if 4 in failed:
                raise CouponNotUsable(
                    f"coupon {order.couponId!r} is not issued to this user or is used"
                ) from exc
            raise

    def refund(self, order: Order, event: OutboxEvent, now: datetime) -> None:
        """Points back, payment marked refunded (once), order PAID/COMPLETED -> REFUNDED, the coupon
        unused again, and payment.refunded: all or nothing."""
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": order_key(order.orderId),
                    "UpdateExpression": "SET #status = :refunded, updatedAt = :now",
                    "ConditionExpression": "#status IN (:paid, :completed)",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":refunded": {"S": OrderStatus.REFUNDED.value},
                        ":paid": {"S": OrderStatus.PAID.value},
                        ":completed": {"S": OrderStatus.COMPLETED.value},
                        ":now": {"S": iso(now)},
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": payment_key(order.orderId),
                    "UpdateExpression": "SET refundedAt = :now",
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(refundedAt)",
                    "ExpressionAttributeValues": {":now": {"S": iso(now)}},
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": points_key(order.userId),
                    "UpdateExpression": "SET balance = balance + :total",
                    "ExpressionAttributeValues": {":total": {"N": str(order.total)}},
                }
            },
            outbox_put(self.outbox_table, event),
        ]
        if order.couponId:
            actions.append(
                {
                    "Update": {
                        "TableName": self.coupons_table,
                        "Key": coupon_issued_key(order.couponId, order.userId),
                        "UpdateExpression": "REMOVE usedAt, usedBy",
                        "ConditionExpression": "usedBy = :order",
                        "ExpressionAttributeValues": {":order": {"S": order.orderId}},
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if _cancelled(exc) is None:
                raise
            raise WrongStatus(f"order {order.orderId!r} is not paid, or is refunded already") from exc

    def cancel(self, order: Order, event: OutboxEvent, now: datetime, reason: str) -> None:
        """RESERVED -> CANCELLED and order.cancelled; the status condition makes a payment racing
        this cancel (or a timeout) win or lose whole."""
        try:
            self.client.transact_write_items(
                TransactItems=[
                    self._transition(order.orderId, OrderStatus.RESERVED, OrderStatus.CANCELLED, now, reason),
                    outbox_put(self.outbox_table, event),
                ]
            )
        except ClientError as exc:
            if _cancelled(exc) is None:
                raise
            raise WrongStatus(f"order {order.orderId!r} is not RESERVED") from exc

    def awaiting_payment_since_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of RESERVED orders reserved before `cutoff`, oldest first per bucket, at most `limit`.
        The index is eventually consistent: the caller re-reads each order before acting on it."""
        found: list[str] = []
        for n in range(AWAITING_BUCKETS):
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table,
                IndexName=AWAITING_INDEX,
                KeyConditionExpression="awaitingBucket = :bucket AND awaitingSince < :cutoff",
                ExpressionAttributeValues={
                    ":bucket": {"S": f"AWAITING#{n}"},
                    ":cutoff": {"S": iso(cutoff)},
                },
                ProjectionExpression="pk",  # the index is KEYS_ONLY: pk is ORDER#<orderId>
            )
            for page in pages:
                found.extend(item["pk"]["S"].removeprefix("ORDER#") for item in page.get("Items", []))
                if len(found) >= limit:
                    return found[:limit]
        return found

    # ---- consumer effects (inbox first) ----------------------------------------------------------

    def _apply(self, actions: list[TransactWriteItemTypeDef]) -> Outcome:
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            codes = _cancelled(exc)
            if codes is None or "ConditionalCheckFailed" not in codes:
                raise  # a conflict or throttling: the record is retried
            first = codes.index("ConditionalCheckFailed")
            return Outcome(False, duplicate=first == 0, refused_at=first)
        return Outcome(True)

    def _inbox(self, consumer: str, event_id: str, now: datetime) -> TransactWriteItemTypeDef:
        return inbox_put(self.table, consumer, event_id, now)

    def _stock_change(self, line: OrderLine, sign: int) -> TransactWriteItemTypeDef:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": product_key(line.productId),
            "UpdateExpression": "SET stock = stock + :delta",
            "ExpressionAttributeValues": {":delta": {"N": str(sign * line.quantity)}},
        }
        if sign < 0:
            update["ConditionExpression"] = "stock >= :q"
            update["ExpressionAttributeValues"][":q"] = {"N": str(line.quantity)}
        else:
            update["ConditionExpression"] = "attribute_exists(pk)"
        return {"Update": update}  # type: ignore[typeddict-item]

    def reserve(
        self, consumer: str, event_id: str, lines: list[OrderLine], event: OutboxEvent, now: datetime
    ) -> Outcome:
        return self._apply(
            [
                self._inbox(consumer, event_id, now),
                *(self._stock_change(line, -1) for line in lines),
                outbox_put(self.outbox_table, event),
            ]
        )

    def record_only(self, consumer: str, event_id: str, event: OutboxEvent | None, now: datetime) -> Outcome:
        actions = [self._inbox(consumer, event_id, now)]
        if event is not None:
            actions.append(outbox_put(self.outbox_table, event))
        return self._apply(actions)

    def restore(self, consumer: str, event_id: str, lines: list[OrderLine], now: datetime) -> Outcome:
        return self._apply(
            [self._inbox(consumer, event_id, now), *(self._stock_change(line, +1) for line in lines)]
        )

    def transition(
        self,
        consumer: str,
        event_id: str,
        order_id: str,
        expected: OrderStatus,
        to: OrderStatus,
        now: datetime,
        reason: str | None = None,
        event: OutboxEvent | None = None,
    ) -> Outcome:
        actions = [
            self._inbox(consumer, event_id, now),
            self._transition(order_id, expected, to, now, reason),
        ]
        if event is not None:
            actions.append(outbox_put(self.outbox_table, event))
        return self._apply(actions)

    def notify(self, consumer: str, event_id: str, notification: Notification, now: datetime) -> Outcome:
        item: Attrs = {
            "pk": {"S": f"USER#{notification.userId}"},
            "sk": {"S": f"NOTIFICATION#{notification.notificationId}"},
            "entity": {"S": "NOTIFICATION"},
            **{name: {"S": str(value)} for name, value in notification.model_dump().items()},
        }
        put: TransactWriteItemTypeDef = {"Put": {"TableName": self.table, "Item": item}}
        return self._apply([self._inbox(consumer, event_id, now), put])

    def notifications(self, user_id: str) -> list[Notification]:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":prefix": {"S": "NOTIFICATION#"}},
        )
        return [
            Notification(**{name: item[name]["S"] for name in Notification.model_fields})
            for item in answer.get("Items", [])
        ]
