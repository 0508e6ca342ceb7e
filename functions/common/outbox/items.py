"""The outbox table's item format (one table for every capability's events).

Key: pk `<aggregateType>#<aggregateId>`, sk `<occurredAt>#<eventId>`: one aggregate's events share a
partition key (the stream keeps them in order there) and anyone holding the envelope can find its item.
While PENDING an item carries `pendingBucket` / `pendingSince`, the keys of the sparse `pending`
index (oldest first); publication removes them, so the index holds only what still needs publishing.
The bucket spreads the index over a few partitions instead of one hot key.
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

from common.ddb.attrs import Attrs, ReadAttrs
from common.outbox.envelope import EventEnvelope, OutboxEvent, payload_json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PENDING = "PENDING"
PUBLISHED = "PUBLISHED"
PENDING_INDEX = "pending"
PENDING_BUCKETS = 4
ENTITY = "OUTBOX"


def outbox_key(aggregate_type: str, aggregate_id: str, occurred_at: str, event_id: str) -> Attrs:
    return {"pk": {"S": f"{aggregate_type}#{aggregate_id}"}, "sk": {"S": f"{occurred_at}#{event_id}"}}


def key_of(envelope: EventEnvelope) -> Attrs:
    return outbox_key(envelope.aggregateType, envelope.aggregateId, envelope.occurredAt, envelope.eventId)


def pending_bucket(event_id: str) -> str:
    return f"{PENDING}#{zlib.crc32(event_id.encode()) % PENDING_BUCKETS}"


def all_buckets() -> list[str]:
    return [f"{PENDING}#{n}" for n in range(PENDING_BUCKETS)]


def outbox_item(event: OutboxEvent) -> Attrs:
    e = event.envelope
    item: Attrs = {
        **key_of(e),
        "entity": {"S": ENTITY},
        "eventId": {"S": e.eventId},
        "eventType": {"S": e.eventType},
        "aggregateType": {"S": e.aggregateType},
        "aggregateId": {"S": e.aggregateId},
        "topic": {"S": event.topic},
        "payload": {"S": payload_json(e.payload)},
        "occurredAt": {"S": e.occurredAt},
        "status": {"S": PENDING},
        "publishAttempts": {"N": "0"},
        "pendingBucket": {"S": pending_bucket(e.eventId)},
        "pendingSince": {"S": f"{e.occurredAt}#{e.eventId}"},
    }
    if event.correlation_id:
        item["correlationId"] = {"S": event.correlation_id}
    return item


def outbox_put(table: str, event: OutboxEvent) -> TransactWriteItemTypeDef:
    """The action to add to the business change's TransactWriteItems (never written on its own)."""
    return {
        "Put": {
            "TableName": table,
            "Item": outbox_item(event),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


class NotAnOutboxItem(ValueError):
    """A stream image or index item that does not have the outbox item's shape."""


def event_from_item(item: ReadAttrs) -> OutboxEvent:
    """The event an outbox item (low-level attribute values: a query result or a stream image) holds."""
    try:
        envelope = EventEnvelope(
            eventId=item["eventId"]["S"],
            eventType=item["eventType"]["S"],
            occurredAt=item["occurredAt"]["S"],
            aggregateType=item["aggregateType"]["S"],
            aggregateId=item["aggregateId"]["S"],
            payload=json.loads(item["payload"]["S"]),
        )
        correlation_id = item.get("correlationId", {}).get("S")
        return OutboxEvent(envelope=envelope, topic=item["topic"]["S"], correlation_id=correlation_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAnOutboxItem(f"not an outbox item: {type(exc).__name__}: {exc}") from exc


def attempts_of(item: ReadAttrs) -> int:
    raw: Any = item.get("publishAttempts", {}).get("N", "0")
    return int(raw)
