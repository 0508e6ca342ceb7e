"""The issuer's table access: read the coupon, then holders and outcomes in bulk; issue in chunked
transactions; then report every outcome with BatchWriteItem.

Only what the invariants are made of is transactional: the coupon's issuedQuantity and the issued
rows change together, under conditions that hold whoever else is writing:
- coupon update `issuedQuantity <= total - k`: never over-issue, even with concurrent consumers;
- issued row `attribute_not_exists(pk)`: at most one coupon per (coupon, user).
Outcome rows (what the status API shows) follow as plain batch puts: a third of the items, taken out
of transactions, where an item costs twice as much (two WCUs on DynamoDB; 2-3x the time on DynamoDB
Local, see README).

Why an unconditional outcome put never contradicts another verdict for the same request: requests
that have an outcome row are read every time and skipped, and every verdict written is final.
- ISSUED is backed by a committed issued row; those are never deleted.
- SOLD_OUT: the stock was gone at the coupon read (the count never decreases, and the holders, read
  after the coupon, include every issue up to then), or this decision's last transaction took the
  rest (its condition then pins the count: nobody issued in between).
- ALREADY_ISSUED: the user holds the coupon through another request, which is permanent.
- NOT_OPEN: a function of the coupon's window and the request's requestedAt.
- COUPON_NOT_FOUND is not final (the coupon may be created later), so it keeps conditional puts in a
  transaction with a "coupon still missing" check.
This relies on coupons never being deleted and their quantity and window never changing.

A crash between the transactions and the outcome puts leaves issued rows without outcome rows: those
requests read as PENDING until the redelivered batch writes the rows (Allocation.unreported).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from botocore.exceptions import ClientError

from common.ddb.batch_get import batch_get, projection_expression
from common.ddb.batch_write import batch_put
from coupons.dal.codec import (
    coupon_from_item,
    coupon_key,
    issued_key,
    issued_to_item,
    n,
    outcome_key,
    outcome_to_item,
)
from coupons.errors import CancelCause, WriteRejected
from coupons.models.decisions import Allocation, GroupState
from coupons.models.events import IssueRequested
from coupons.models.items import REQUEST_SK, CouponItem, IssuedCouponItem, RequestOutcomeItem
from coupons.models.types import RejectReason, RequestStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_ACTIONS_PER_TRANSACTION = 100
# One action goes to the coupon (its update, or the "still missing" check).
REQUESTS_PER_TRANSACTION = MAX_ACTIONS_PER_TRANSACTION - 1

# Everything the decision needs, nothing more (names go through placeholders: `name` is reserved).
_READ_PROJECTION = (
    "pk", "sk", "couponId", "name", "totalQuantity", "issuedQuantity",
    "startsAt", "endsAt", "createdAt", "userId", "requestId",
)  # fmt: skip

_THROTTLE_CODES = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_RETRYABLE_ERRORS = {
    "TransactionConflictException": CancelCause.CONFLICT,
    "ThrottlingException": CancelCause.THROTTLED,
    "ProvisionedThroughputExceededException": CancelCause.THROTTLED,
    "RequestLimitExceeded": CancelCause.THROTTLED,
    "TransactionInProgressException": CancelCause.CONFLICT,
}


class _Action(Enum):
    COUPON = "coupon"  # the coupon update or the "still does not exist" check
    ISSUED = "issued"
    OUTCOME = "outcome"


_CONDITION_FAILED_CAUSE = {
    _Action.COUPON: CancelCause.STOCK_CHANGED,
    _Action.ISSUED: CancelCause.USER_ALREADY_HOLDS,
    _Action.OUTCOME: CancelCause.REQUEST_ALREADY_DECIDED,
}


class IssuerRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read_group_state(
        self, coupon_id: str, request_ids: Sequence[UUID], user_ids: Sequence[str]
    ) -> GroupState:
        """The coupon first, then the holders and outcomes: BatchGetItem is no snapshot, and this
        order makes every issue committed before the coupon read visible in the holders."""
        expression, names = projection_expression(_READ_PROJECTION)
        response = self._client.get_item(
            TableName=self._table,
            Key=coupon_key(coupon_id),
            ConsistentRead=True,
            ProjectionExpression=expression,
            ExpressionAttributeNames=names,
        )
        state = GroupState(coupon=coupon_from_item(response["Item"]) if "Item" in response else None)
        keys = [outcome_key(request_id) for request_id in request_ids]
        keys += [issued_key(coupon_id, user_id) for user_id in user_ids]
        for item in batch_get(self._client, self._table, keys, projection=_READ_PROJECTION):
            if item["sk"]["S"] == REQUEST_SK:
                state.reported.add(UUID(item["requestId"]["S"]))
            else:
                state.holders[item["userId"]["S"]] = UUID(item["requestId"]["S"])
        return state

    def write_allocation(
        self, allocation: Allocation, coupon: CouponItem | None, processed_at: datetime
    ) -> int:
        """Issue (transactions), then report every outcome (batch puts); return the transactions made.

        Raise WriteRejected when a transaction is cancelled: earlier ones stay committed, and no
        outcome row has been written yet for this attempt.
        """
        if coupon is None:
            return self._reject_missing_coupon(allocation, processed_at)
        issued, transactions = allocation.issued, 0
        for start in range(0, len(issued), REQUESTS_PER_TRANSACTION):
            self._issue(coupon, issued[start : start + REQUESTS_PER_TRANSACTION], processed_at)
            transactions += 1
        outcomes = [_outcome(request, None, processed_at) for request in issued + allocation.unreported]
        outcomes += [_outcome(r.request, r.reason, processed_at) for r in allocation.rejected]
        batch_put(self._client, self._table, [outcome_to_item(outcome) for outcome in outcomes])
        return transactions

    def transact(self, actions: list[TransactWriteItemTypeDef], kinds: list[_Action]) -> None:
        """One TransactWriteItems call; cancellation becomes WriteRejected with per-action causes."""
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                raise WriteRejected(_causes(reasons, kinds)) from exc
            if code in _RETRYABLE_ERRORS:
                raise WriteRejected([_RETRYABLE_ERRORS[code]]) from exc
            raise

    def _issue(self, coupon: CouponItem, requests: Sequence[IssueRequested], processed_at: datetime) -> None:
        k = len(requests)
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": coupon_key(coupon.coupon_id),
                    "UpdateExpression": "SET issuedQuantity = issuedQuantity + :k",
                    "ConditionExpression": "attribute_exists(pk) AND issuedQuantity <= :limit",
                    "ExpressionAttributeValues": {":k": n(k), ":limit": n(coupon.total_quantity - k)},
                }
            }
        ]
        for request in requests:
            issued = IssuedCouponItem(
                coupon_id=coupon.coupon_id,
                user_id=request.userId,
                request_id=request.requestId,
                issued_at=processed_at,
            )
            actions.append(self._put_new(issued_to_item(issued)))
        self.transact(actions, [_Action.COUPON] + [_Action.ISSUED] * k)

    def _reject_missing_coupon(self, allocation: Allocation, processed_at: datetime) -> int:
        """COUPON_NOT_FOUND holds only if the coupon still does not exist when the outcome is written."""
        rejected, transactions = allocation.rejected, 0
        for start in range(0, len(rejected), REQUESTS_PER_TRANSACTION):
            actions: list[TransactWriteItemTypeDef] = [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": coupon_key(allocation.coupon_id),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
            chunk = rejected[start : start + REQUESTS_PER_TRANSACTION]
            for rejection in chunk:
                outcome = _outcome(rejection.request, rejection.reason, processed_at)
                actions.append(self._put_new(outcome_to_item(outcome)))
            self.transact(actions, [_Action.COUPON] + [_Action.OUTCOME] * len(chunk))
            transactions += 1
        return transactions

    def _put_new(self, item: dict[str, Any]) -> TransactWriteItemTypeDef:
        return {
            "Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }


def _outcome(
    request: IssueRequested, reason: RejectReason | None, processed_at: datetime
) -> RequestOutcomeItem:
    return RequestOutcomeItem(
        request_id=request.requestId,
        coupon_id=request.couponId,
        user_id=request.userId,
        status=RequestStatus.ISSUED if reason is None else RequestStatus.REJECTED,
        reason=reason,
        requested_at=request.requestedAt,
        processed_at=processed_at,
    )


def _causes(reasons: Sequence[Any], kinds: Sequence[_Action]) -> list[CancelCause]:
    causes: list[CancelCause] = []
    for reason, kind in zip(reasons, kinds, strict=False):
        code = reason.get("Code") or "None"
        if code == "None":
            continue
        if code == "ConditionalCheckFailed":
            causes.append(_CONDITION_FAILED_CAUSE[kind])
        elif code == "TransactionConflict":
            causes.append(CancelCause.CONFLICT)
        elif code in _THROTTLE_CODES:
            causes.append(CancelCause.THROTTLED)
        else:
            causes.append(CancelCause.OTHER)
    return causes
