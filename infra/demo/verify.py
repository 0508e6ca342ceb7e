"""Reading the outcome of a coupon surge straight from DynamoDB (what the demo reports and checks)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coupons.models.items import COUPON_SK, REQUEST_SK, coupon_pk, request_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def fetch_outcomes(client: DynamoDBClient, table: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """requestId -> {status, reason} for the requests that have an outcome row (100 keys per call)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(request_ids), 100):
        keys: list[dict[str, Any]] = [
            {"pk": {"S": request_pk(rid)}, "sk": {"S": REQUEST_SK}}
            for rid in request_ids[start : start + 100]
        ]
        request: dict[str, Any] = {
            table: {
                "Keys": keys,
                "ProjectionExpression": "requestId, #s, reason",
                "ExpressionAttributeNames": {"#s": "status"},
            }
        }
        while request:
            response = client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table, []):
                found[item["requestId"]["S"]] = {
                    "status": item["status"]["S"],
                    "reason": item.get("reason", {}).get("S"),
                }
            request = response.get("UnprocessedKeys") or {}
    return found


@dataclass
class CouponState:
    issued_quantity: int
    total_quantity: int
    holders: Counter[str] = field(default_factory=Counter)  # userId -> issued items (must be <= 1)

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.holders.values() if count > 1)


def read_coupon(client: DynamoDBClient, table: str, coupon_id: str) -> CouponState:
    coupon = client.get_item(
        TableName=table, Key={"pk": {"S": coupon_pk(coupon_id)}, "sk": {"S": COUPON_SK}}, ConsistentRead=True
    )["Item"]
    state = CouponState(int(coupon["issuedQuantity"]["N"]), int(coupon["totalQuantity"]["N"]))
    pages = client.get_paginator("query").paginate(
        TableName=table,
        ConsistentRead=True,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :user)",
        ExpressionAttributeValues={":pk": {"S": coupon_pk(coupon_id)}, ":user": {"S": "USER#"}},
    )
    for page in pages:
        for item in page.get("Items", []):
            state.holders[item["userId"]["S"]] += 1
    return state
