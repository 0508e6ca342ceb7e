"""The outbox table's access (the only DynamoDB code of the engine): mark published, find stale
PENDING items through the sparse index, claim one with a lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.ddb.attrs import Attrs, ReadAttrs
from common.outbox.envelope import EventEnvelope
from common.outbox.items import PENDING, PENDING_INDEX, PUBLISHED, all_buckets, key_of
from common.types import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Claim:
    key: Attrs
    attempts: int


class OutboxStore:
    def __init__(self, client: DynamoDBClient, table: str, published_ttl: timedelta) -> None:
        self.client = client
        self.table = table
        self.published_ttl = published_ttl

    def mark_published(self, envelope: EventEnvelope, now: datetime, on_kafka_ms: int | None = None) -> bool:
        """PENDING -> PUBLISHED, once; False when it already was (or is unknown): both are no-ops.
        `on_kafka_ms`, the record's Kafka timestamp, is kept as `onKafkaAt` (publish latency =
        onKafkaAt - occurredAt; publishedAt is when the confirmer read it back)."""
        values: dict[str, Any] = {}
        on_kafka = ""
        if on_kafka_ms is not None:
            on_kafka = ", onKafkaAt = :on_kafka"
            values[":on_kafka"] = {"N": str(on_kafka_ms)}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key_of(envelope),
                UpdateExpression=(
                    f"SET #status = :published, publishedAt = :now, #ttl = :ttl{on_kafka} "
                    "REMOVE pendingBucket, pendingSince, leaseUntil"
                ),
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":published": {"S": PUBLISHED},
                    ":pending": {"S": PENDING},
                    ":now": {"S": iso(now)},
                    ":ttl": {"N": str(int((now + self.published_ttl).timestamp()))},
                    **values,
                },
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def stale_pending(self, older_than: datetime, limit: int) -> list[ReadAttrs]:
        """PENDING items that occurred before `older_than`, oldest first in each bucket."""
        found: list[ReadAttrs] = []
        for bucket in all_buckets():
            answer = self.client.query(
                TableName=self.table,
                IndexName=PENDING_INDEX,
                KeyConditionExpression="pendingBucket = :bucket AND pendingSince < :cutoff",
                ExpressionAttributeValues={":bucket": {"S": bucket}, ":cutoff": {"S": iso(older_than)}},
                ScanIndexForward=True,
                Limit=limit,
            )
            found.extend(answer.get("Items", []))
        found.sort(key=lambda item: item["pendingSince"]["S"])
        return found[:limit]

    def claim(self, item: ReadAttrs, now: datetime, lease: timedelta) -> Claim | None:
        """Take a lease on a PENDING item so no other sweeper republishes it until the lease ends;
        counts the attempt. None: it is published already, or another sweeper holds it."""
        key: Attrs = {"pk": item["pk"], "sk": item["sk"]}
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET leaseUntil = :until, lastAttemptAt = :now ADD publishAttempts :one",
                ConditionExpression=(
                    "#status = :pending AND (attribute_not_exists(leaseUntil) OR leaseUntil <= :epoch)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":pending": {"S": PENDING},
                    ":until": {"N": f"{(now + lease).timestamp():.3f}"},
                    ":epoch": {"N": f"{now.timestamp():.3f}"},
                    ":now": {"S": iso(now)},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return Claim(key, int(answer["Attributes"]["publishAttempts"]["N"]))
