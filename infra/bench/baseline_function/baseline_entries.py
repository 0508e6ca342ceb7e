"""A per-record queue-entry consumer, for comparison only: one TransactWriteItems per entry.

Same table layout and invariants as the real entry consumer (functions/waiting_room): the counter moves
by one under a condition, and the entry and the user's pointer are put only if absent. It reads the
counter and writes one transaction for every record, in record order, with no batching.
"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# A fixed User-Agent as in functions/common/dynamodb.py, so both sides pay the same client CPU per call.
_client = boto3.client("dynamodb", config=Config(user_agent="surge-baseline"))
_table = os.environ["CONCERTS_TABLE_NAME"]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for records in event["records"].values():
        for record in records:
            _position(json.loads(base64.b64decode(record["value"])))
    return {"batchItemFailures": []}


def _position(request: dict[str, str]) -> None:
    concert, user, entry_id = request["concertId"], request["userId"], request["entryId"]
    for _ in range(20):
        item = _client.get_item(
            TableName=_table,
            Key={"pk": {"S": f"CONCERT#{concert}"}, "sk": {"S": "META"}},
            ConsistentRead=True,
        )["Item"]
        last = int(item["lastPosition"]["N"])
        now = datetime.now(UTC).isoformat()
        try:
            _client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": _table,
                            "Key": {"pk": {"S": f"CONCERT#{concert}"}, "sk": {"S": "META"}},
                            "UpdateExpression": "SET lastPosition = :new",
                            "ConditionExpression": "lastPosition = :old",
                            "ExpressionAttributeValues": {
                                ":new": {"N": str(last + 1)},
                                ":old": {"N": str(last)},
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": _table,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "Item": {
                                "pk": {"S": f"ENTRY#{entry_id}"},
                                "sk": {"S": "ENTRY"},
                                "entryId": {"S": entry_id},
                                "concertId": {"S": concert},
                                "userId": {"S": user},
                                "position": {"N": str(last + 1)},
                                "state": {"S": "POSITIONED"},
                                "requestedAt": {"S": request["requestedAt"]},
                                "positionedAt": {"S": now},
                                "lastSeenMs": {"N": str(int(time.time() * 1000))},
                                "gsi1pk": {"S": f"QUEUE#{concert}"},
                                "gsi1sk": {"S": f"{last + 1:012d}"},
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": _table,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "Item": {
                                "pk": {"S": f"CONCERT#{concert}"},
                                "sk": {"S": f"USER#{user}"},
                                "entryId": {"S": entry_id},
                                "userId": {"S": user},
                            },
                        }
                    },
                ]
            )
            return
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) == 3 and reasons[1] == "ConditionalCheckFailed":
                return  # already positioned (redelivery)
            if len(reasons) == 3 and reasons[2] == "ConditionalCheckFailed":
                return  # the user already has an entry (the real consumer makes it an alias)
            time.sleep(0.01)
    raise RuntimeError(f"entry {entry_id}: kept racing")
