"""The inbox: a consumer records (consumer, eventId) with attribute_not_exists in the same
transaction as its effect, so a redelivered or republished event changes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from common.ddb.attrs import Attrs
from common.types import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# Kept well past any redelivery or republishing window (Kafka retention is 7 days).
INBOX_RETENTION = timedelta(days=14)


def inbox_key(consumer: str, event_id: str) -> Attrs:
    return {"pk": {"S": f"INBOX#{consumer}#{event_id}"}, "sk": {"S": "INBOX"}}


def inbox_put(table: str, consumer: str, event_id: str, now: datetime) -> TransactWriteItemTypeDef:
    """Put first in the consumer's transaction: it fails (and with it the effect) if already seen."""
    return {
        "Put": {
            "TableName": table,
            "Item": {
                **inbox_key(consumer, event_id),
                "entity": {"S": "INBOX"},
                "consumer": {"S": consumer},
                "eventId": {"S": event_id},
                "processedAt": {"S": iso(now)},
                "ttl": {"N": str(int((now + INBOX_RETENTION).timestamp()))},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def cancellation_codes(error: ClientError) -> list[str]:
    """Per action of a cancelled TransactWriteItems, its reason code ('None' when it was fine)."""
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]


def already_processed(error: ClientError, inbox_index: int = 0) -> bool:
    """True when the transaction was cancelled because the inbox item exists: a duplicate."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    codes = cancellation_codes(error)
    return len(codes) > inbox_index and codes[inbox_index] == "ConditionalCheckFailed"
