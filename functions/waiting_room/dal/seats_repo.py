"""Seats and holds in ConcertsTable: the only DynamoDB code for them (item layout in models/seats.py).

Why no seat is ever held twice, and no user holds more than maxSeatsPerUser seats of a concert: a hold
is one TransactWriteItems of three conditional writes, so either all three happen or none:

1. the seat, only if it exists, is not SOLD and has no live hold (no holdId, or holdExpiresAt <= now);
2. one of the user's hold slots `HOLDSLOT#{userId}#{k}`, k < maxSeatsPerUser, only if it is free
   (absent, or its hold expired): k slots are k items, so k+1 live holds would need two holds in one
   slot item, which the condition forbids;
3. the hold item, only if its id is new.

Expiry lives in the conditions (`holdExpiresAt <= :now`), never in DynamoDB TTL, which deletes up to
48 hours late. The sweeper only tidies: each of its writes is conditional on the hold id, so it never
touches a seat or slot that a newer hold has taken since.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.types import iso
from waiting_room.models.seats import (
    Hold,
    HoldCancelled,
    HoldConflict,
    HoldSlot,
    HoldStatus,
    Seat,
    SeatStatus,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    Attrs = dict[str, AttributeValueTypeDef]
else:
    Attrs = dict[str, Any]

# Expiring holds are spread over this many gsi1 partitions, so a surge of holds is not one hot key.
HOLD_SHARDS = 16
# Hold and slot items stay this long after expiry for inspection, then DynamoDB TTL removes them.
KEEP_AFTER_EXPIRY_SECONDS = 86_400
SEATS_PER_TRANSACTION = 100  # TransactWriteItems' limit
_THROTTLE_CODES = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def concert_pk(concert_id: str) -> str:
    return f"CONCERT#{concert_id}"


def seat_key(concert_id: str, seat_id: str) -> Attrs:
    return {"pk": _s(concert_pk(concert_id)), "sk": _s(f"SEAT#{seat_id}")}


def slot_prefix(user_id: str) -> str:
    return f"HOLDSLOT#{user_id}#"  # the trailing '#' keeps user "ab" from matching user "abc"


def slot_key(concert_id: str, user_id: str, index: int) -> Attrs:
    return {"pk": _s(concert_pk(concert_id)), "sk": _s(f"{slot_prefix(user_id)}{index}")}


def hold_key(hold_id: str) -> Attrs:
    return {"pk": _s(f"HOLD#{hold_id}"), "sk": _s("HOLD")}


def hold_shard(hold_id: str) -> str:
    return f"HOLDEXP#{int(hold_id[:8], 16) % HOLD_SHARDS:02d}"


def _expiry_sort_key(expires_ms: int, hold_id: str) -> str:
    return f"{expires_ms:015d}#{hold_id}"


def _ttl(expires_ms: int) -> AttributeValueTypeDef:
    return _n(expires_ms // 1000 + KEEP_AFTER_EXPIRY_SECONDS)


def seat_from_item(item: dict[str, Any]) -> Seat:
    return Seat(
        concert_id=item["concertId"]["S"],
        seat_id=item["seatId"]["S"],
        status=SeatStatus(item["status"]["S"]),
        hold_id=item["holdId"]["S"] if "holdId" in item else None,
        hold_user_id=item["holdUserId"]["S"] if "holdUserId" in item else None,
        hold_expires_ms=int(item["holdExpiresAt"]["N"]) if "holdExpiresAt" in item else None,
    )


def hold_to_item(hold: Hold) -> Attrs:
    item: Attrs = {
        **hold_key(hold.hold_id),
        "holdId": _s(hold.hold_id),
        "concertId": _s(hold.concert_id),
        "seatId": _s(hold.seat_id),
        "userId": _s(hold.user_id),
        "entryId": _s(hold.entry_id),
        "slot": _n(hold.slot),
        "status": _s(hold.status.value),
        "createdAt": _s(iso(hold.created_at)),
        "expiresAt": _n(hold.expires_ms),
        "ttl": _ttl(hold.expires_ms),
    }
    if hold.status is HoldStatus.HELD:
        item["gsi1pk"] = _s(hold_shard(hold.hold_id))
        item["gsi1sk"] = _s(_expiry_sort_key(hold.expires_ms, hold.hold_id))
    return item


def hold_from_item(item: dict[str, Any]) -> Hold:
    return Hold(
        hold_id=item["holdId"]["S"],
        concert_id=item["concertId"]["S"],
        seat_id=item["seatId"]["S"],
        user_id=item["userId"]["S"],
        entry_id=item["entryId"]["S"],
        slot=int(item["slot"]["N"]),
        status=HoldStatus(item["status"]["S"]),
        created_at=datetime.fromisoformat(item["createdAt"]["S"]),
        expires_ms=int(item["expiresAt"]["N"]),
    )


def cancellation_causes(exc: ClientError, kinds: Sequence[HoldConflict]) -> set[HoldConflict]:
    code = exc.response["Error"]["Code"]
    if code in _THROTTLE_CODES:
        return {HoldConflict.BUSY}
    if code != "TransactionCanceledException":
        raise exc
    causes: set[HoldConflict] = set()
    for reason, kind in zip(exc.response.get("CancellationReasons", []), kinds, strict=False):
        reason_code = reason.get("Code") or "None"
        if reason_code == "ConditionalCheckFailed":
            causes.add(kind)
        elif reason_code != "None":
            causes.add(HoldConflict.BUSY)  # TransactionConflict, throttling: try again
    return causes or {HoldConflict.BUSY}


class SeatRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- seats ---------------------------------------------------------------------------------------

    def create_seats(self, concert_id: str, seat_ids: Sequence[str]) -> int:
        """Add the seats that do not exist yet, AVAILABLE; never touch an existing one (it may be held or
        sold). Idempotent, also when two callers race. Returns how many this call created."""
        existing = {seat.seat_id for seat in self.list_seats(concert_id)}
        missing = list(dict.fromkeys(seat_id for seat_id in seat_ids if seat_id not in existing))
        created = 0
        for start in range(0, len(missing), SEATS_PER_TRANSACTION):
            created += self._create_chunk(concert_id, missing[start : start + SEATS_PER_TRANSACTION])
        return created

    def _create_chunk(self, concert_id: str, seat_ids: list[str]) -> int:
        attempt = 0
        while seat_ids:
            actions: list[TransactWriteItemTypeDef] = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **seat_key(concert_id, seat_id),
                            "concertId": _s(concert_id),
                            "seatId": _s(seat_id),
                            "status": _s(SeatStatus.AVAILABLE.value),
                        },
                        # A plain put would wipe a hold a racing caller's seat already carries.
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for seat_id in seat_ids
            ]
            try:
                self._client.transact_write_items(TransactItems=actions)
                return len(seat_ids)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons", [])
                taken = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
                if not taken:  # a conflict, not an existing seat: back off and retry the same chunk
                    attempt += 1
                    if attempt > 8:
                        raise
                    time.sleep(min(0.05 * 2**attempt, 1.0))
                seat_ids = [seat_id for i, seat_id in enumerate(seat_ids) if i not in taken]
        return 0

    def list_seats(self, concert_id: str) -> list[Seat]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :seat)",
            ExpressionAttributeValues={":pk": _s(concert_pk(concert_id)), ":seat": _s("SEAT#")},
        )
        return [seat_from_item(item) for page in pages for item in page.get("Items", [])]

    def get_seat(self, concert_id: str, seat_id: str) -> Seat | None:
        item = self._get(seat_key(concert_id, seat_id))
        return seat_from_item(item) if item else None

    # --- holds ---------------------------------------------------------------------------------------

    def hold_slots(self, concert_id: str, user_id: str) -> list[HoldSlot]:
        """The user's slot items in the concert (live or expired; freed ones are deleted): one Query."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :slot)",
            ExpressionAttributeValues={":pk": _s(concert_pk(concert_id)), ":slot": _s(slot_prefix(user_id))},
            ConsistentRead=True,
        )
        return [
            HoldSlot(
                index=int(item["sk"]["S"].rpartition("#")[2]),
                hold_id=item["holdId"]["S"],
                expires_ms=int(item["holdExpiresAt"]["N"]),
            )
            for item in response.get("Items", [])
        ]

    def create_hold(self, hold: Hold, now_ms: int) -> None:
        """The seat, the user's slot `hold.slot` and the hold item in one transaction (module docstring).

        Raises HoldCancelled naming which condition failed (SEAT, SLOT, HOLD_ID) or BUSY.
        """
        expires = _n(hold.expires_ms)
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": seat_key(hold.concert_id, hold.seat_id),
                    "UpdateExpression": "SET holdId = :h, holdUserId = :u, holdExpiresAt = :exp",
                    "ConditionExpression": (
                        "attribute_exists(pk) AND #status = :available"
                        " AND (attribute_not_exists(holdId) OR holdExpiresAt <= :now)"
                    ),
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":h": _s(hold.hold_id),
                        ":u": _s(hold.user_id),
                        ":exp": expires,
                        ":available": _s(SeatStatus.AVAILABLE.value),
                        ":now": _n(now_ms),
                    },
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **slot_key(hold.concert_id, hold.user_id, hold.slot),
                        "holdId": _s(hold.hold_id),
                        "seatId": _s(hold.seat_id),
                        "holdExpiresAt": expires,
                        "ttl": _ttl(hold.expires_ms),
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR holdExpiresAt <= :now",
                    "ExpressionAttributeValues": {":now": _n(now_ms)},
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": hold_to_item(hold),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        self._transact(actions, [HoldConflict.SEAT, HoldConflict.SLOT, HoldConflict.HOLD_ID])

    def get_hold(self, hold_id: str) -> Hold | None:
        item = self._get(hold_key(hold_id))
        return hold_from_item(item) if item else None

    def release_hold(self, hold: Hold, now_ms: int) -> None:
        """A live hold, released by its holder: the hold item, the seat and the slot in one transaction.

        Raises HoldCancelled(HOLD_ID) when the hold is no longer live (released, expired meanwhile).
        """
        hold_id = _s(hold.hold_id)
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": hold_key(hold.hold_id),
                    "UpdateExpression": "SET #status = :released REMOVE gsi1pk, gsi1sk",
                    "ConditionExpression": "#status = :held AND expiresAt > :now",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":released": _s(HoldStatus.RELEASED.value),
                        ":held": _s(HoldStatus.HELD.value),
                        ":now": _n(now_ms),
                    },
                }
            },
            self._clear_seat(hold),
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": slot_key(hold.concert_id, hold.user_id, hold.slot),
                    "ConditionExpression": "holdId = :h",
                    "ExpressionAttributeValues": {":h": hold_id},
                }
            },
        ]
        self._transact(actions, [HoldConflict.HOLD_ID, HoldConflict.SEAT, HoldConflict.SLOT])

    def expire_hold(self, hold: Hold, now_ms: int) -> bool:
        """Tidy an expired hold: free its seat and slot unless a newer hold took them, then mark it
        EXPIRED and take it out of the sweeper's index. Three independent conditional writes, the hold
        item last: a crash in between leaves it in the index, so the next sweep finishes the job.
        Returns False when the hold was not (or no longer) an expired HELD one."""
        self._conditional(lambda: self._client.update_item(**self._clear_seat(hold)["Update"]))
        self._conditional(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key=slot_key(hold.concert_id, hold.user_id, hold.slot),
                ConditionExpression="holdId = :h",
                ExpressionAttributeValues={":h": _s(hold.hold_id)},
            )
        )
        return self._conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=hold_key(hold.hold_id),
                UpdateExpression="SET #status = :expired REMOVE gsi1pk, gsi1sk",
                ConditionExpression="#status = :held AND expiresAt <= :now",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":expired": _s(HoldStatus.EXPIRED.value),
                    ":held": _s(HoldStatus.HELD.value),
                    ":now": _n(now_ms),
                },
            )
        )

    def expired_holds(self, now_ms: int) -> Iterator[Hold]:
        """HELD holds whose expiry has passed, shard by shard, oldest first within a shard."""
        paginator = self._client.get_paginator("query")
        for shard in range(HOLD_SHARDS):
            pages = paginator.paginate(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :shard AND gsi1sk < :bound",
                ExpressionAttributeValues={
                    ":shard": _s(f"HOLDEXP#{shard:02d}"),
                    ":bound": _s(f"{now_ms + 1:015d}"),  # every expiresAt <= now_ms
                },
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield hold_from_item(item)

    # --- helpers -------------------------------------------------------------------------------------

    def _clear_seat(self, hold: Hold) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self._table,
                "Key": seat_key(hold.concert_id, hold.seat_id),
                "UpdateExpression": "REMOVE holdId, holdUserId, holdExpiresAt",
                "ConditionExpression": "holdId = :h",
                "ExpressionAttributeValues": {":h": _s(hold.hold_id)},
            }
        }

    def _transact(self, actions: list[TransactWriteItemTypeDef], kinds: Sequence[HoldConflict]) -> None:
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            raise HoldCancelled(cancellation_causes(exc, kinds)) from exc

    @staticmethod
    def _conditional(write: Any) -> bool:
        try:
            write()
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def _get(self, key: Attrs) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return response.get("Item")
