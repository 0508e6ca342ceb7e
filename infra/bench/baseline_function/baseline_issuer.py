"""The seeds' issuer design, for comparison only: one TransactWriteItems per request, in record order.

Same table layout and the same invariants as the real issuer (functions/coupons), but no batching:
it pays a DynamoDB round trip (two when rejected) for every record.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# A fixed User-Agent as in functions/common/dynamodb.py, so both sides pay the same client CPU per call.
_client = boto3.client("dynamodb", config=Config(user_agent="surge-baseline"))
_table = os.environ["COUPONS_TABLE_NAME"]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for records in event["records"].values():
        for record in records:
            _issue(json.loads(base64.b64decode(record["value"])))
    return {"batchItemFailures": []}


def _issue(request: dict[str, str]) -> None:
    now = datetime.now(UTC).isoformat()
    coupon, user, rid = request["couponId"], request["userId"], request["requestId"]
    outcome = {
        "pk": {"S": f"REQUEST#{rid}"},
        "sk": {"S": "REQUEST"},
        "requestId": {"S": rid},
        "couponId": {"S": coupon},
        "userId": {"S": user},
        "requestedAt": {"S": request["requestedAt"]},
        "processedAt": {"S": now},
    }
    try:
        _client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": _table,
                        "Key": {"pk": {"S": f"COUPON#{coupon}"}, "sk": {"S": "COUPON"}},
                        "UpdateExpression": "SET issuedQuantity = issuedQuantity + :one",
                        "ConditionExpression": "issuedQuantity < totalQuantity",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": _table,
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "Item": {
                            "pk": {"S": f"COUPON#{coupon}"},
                            "sk": {"S": f"USER#{user}"},
                            "gsi1pk": {"S": f"USER#{user}"},
                            "gsi1sk": {"S": f"COUPON#{coupon}"},
                            "couponId": {"S": coupon},
                            "userId": {"S": user},
                            "requestId": {"S": rid},
                            "issuedAt": {"S": now},
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": _table,
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "Item": {**outcome, "status": {"S": "ISSUED"}},
                    }
                },
            ]
        )
    except ClientError as exc:
        reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
        if not reasons or reasons[2] == "ConditionalCheckFailed":
            return  # already decided (redelivery)
        reason = "SOLD_OUT" if reasons[0] == "ConditionalCheckFailed" else "ALREADY_ISSUED"
        try:
            _client.put_item(
                TableName=_table,
                ConditionExpression="attribute_not_exists(pk)",
                Item={**outcome, "status": {"S": "REJECTED"}, "reason": {"S": reason}},
            )
        except ClientError as put_error:
            if put_error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
