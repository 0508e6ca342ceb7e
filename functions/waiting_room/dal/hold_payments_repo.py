"""Paying a hold (the only DynamoDB code of it): one TransactWriteItems across the concerts table,
the orders capability's points and the outbox, so the seat is sold, the points are taken and
`reservation.confirmed` is written all together or not at all.

Conditions that carry the invariants:
- the hold `status = HELD AND expiresAt > :now`: only a live hold is paid, once (it becomes CONFIRMED);
- the seat `holdId = :h`: it is still this hold's seat (it becomes SOLD);
- the points `balance >= :price`: never negative (the orders capability's USER#<id>/POINTS item);
- the reservation `attribute_not_exists(pk)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from common.outbox.envelope import OutboxEvent
from common.outbox.items import outbox_put
from common.types import iso
from orders.dal.orders_repo import points_key  # the orders capability's points item
from waiting_room.dal.seats_repo import cancellation_causes, hold_key, seat_key, slot_key
from waiting_room.models.seats import Hold, HoldCancelled, HoldConflict, HoldStatus, SeatStatus

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def reservation_key(hold_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"RESERVATION#{hold_id}"}, "sk": {"S": "RESERVATION"}}


class HoldPaymentRepository:
    def __init__(
        self, client: DynamoDBClient, concerts_table: str, points_table: str, outbox_table: str
    ) -> None:
        self._client = client
        self._table = concerts_table
        self._points_table = points_table
        self._outbox_table = outbox_table

    def confirm(self, hold: Hold, price: int, event: OutboxEvent, now: datetime, now_ms: int) -> None:
        """Raises HoldCancelled naming what refused: HOLD_ID (no longer live), SEAT, SLOT, POINTS."""
        h = {"S": hold.hold_id}
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": hold_key(hold.hold_id),
                    "UpdateExpression": "SET #status = :confirmed REMOVE gsi1pk, gsi1sk",
                    "ConditionExpression": "#status = :held AND expiresAt > :now",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":confirmed": {"S": HoldStatus.CONFIRMED.value},
                        ":held": {"S": HoldStatus.HELD.value},
                        ":now": {"N": str(now_ms)},
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": seat_key(hold.concert_id, hold.seat_id),
                    "UpdateExpression": "SET #status = :sold, soldTo = :user REMOVE holdId, holdUserId, holdExpiresAt",
                    "ConditionExpression": "holdId = :h",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":sold": {"S": SeatStatus.SOLD.value},
                        ":user": {"S": hold.user_id},
                        ":h": h,
                    },
                }
            },
            {
                "Delete": {  # the slot counts live holds; a sold seat no longer takes one
                    "TableName": self._table,
                    "Key": slot_key(hold.concert_id, hold.user_id, hold.slot),
                    "ConditionExpression": "holdId = :h",
                    "ExpressionAttributeValues": {":h": h},
                }
            },
            {
                "Update": {
                    "TableName": self._points_table,
                    "Key": points_key(hold.user_id),
                    "UpdateExpression": "SET balance = balance - :price",
                    "ConditionExpression": "balance >= :price",
                    "ExpressionAttributeValues": {":price": {"N": str(price)}},
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **reservation_key(hold.hold_id),
                        "reservationId": h,
                        "holdId": h,
                        "concertId": {"S": hold.concert_id},
                        "seatId": {"S": hold.seat_id},
                        "userId": {"S": hold.user_id},
                        "price": {"N": str(price)},
                        "status": {"S": HoldStatus.CONFIRMED.value},
                        "confirmedAt": {"S": iso(now)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            outbox_put(self._outbox_table, event),
        ]
        kinds = [
            HoldConflict.HOLD_ID,
            HoldConflict.SEAT,
            HoldConflict.SLOT,
            HoldConflict.POINTS,
            HoldConflict.HOLD_ID,
            HoldConflict.BUSY,  # an outbox id clash: a new attempt has a new event id
        ]
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            raise HoldCancelled(cancellation_causes(exc, kinds)) from exc

    def reservation_price(self, hold_id: str) -> int | None:
        """The price a confirmed hold was paid with (None: no reservation)."""
        item = self._client.get_item(TableName=self._table, Key=reservation_key(hold_id), ConsistentRead=True)
        found = item.get("Item")
        return int(found["price"]["N"]) if found else None
