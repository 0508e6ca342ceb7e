"""Coupon CRUD and the API's reads (single items, the user's coupons through gsi1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from botocore.exceptions import ClientError

from coupons.dal.codec import (
    coupon_from_item,
    coupon_key,
    coupon_to_item,
    issued_from_item,
    outcome_from_item,
    outcome_key,
)
from coupons.errors import CouponAlreadyExists
from coupons.models.items import CouponItem, IssuedCouponItem, RequestOutcomeItem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class CouponRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create_coupon(self, coupon: CouponItem) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=coupon_to_item(coupon),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise CouponAlreadyExists(coupon.coupon_id) from exc
            raise

    def get_coupon(self, coupon_id: str) -> CouponItem | None:
        item = self._get(coupon_key(coupon_id))
        return coupon_from_item(item) if item else None

    def get_outcome(self, request_id: UUID) -> RequestOutcomeItem | None:
        item = self._get(outcome_key(request_id))
        return outcome_from_item(item) if item else None

    def list_user_coupons(self, user_id: str) -> list[IssuedCouponItem]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":prefix": {"S": "COUPON#"}},
        )
        return [issued_from_item(item) for page in pages for item in page.get("Items", [])]

    def _get(self, key: Any) -> dict[str, Any] | None:
        # Consistent: a client polling its request right after the issuer wrote must see the outcome.
        response = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return response.get("Item")
