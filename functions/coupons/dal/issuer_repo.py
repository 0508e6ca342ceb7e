"""The issuer's table access: one bulk read per coupon group, chunked conditional transactions.

Every write carries the condition that makes the invariants hold whoever else is writing:
- coupon update `issuedQuantity <= total - k`: never over-issue, even with concurrent consumers;
- issued row `attribute_not_exists(pk)`: at most one coupon per (coupon, user);
- outcome row `attribute_not_exists(pk)`: exactly one terminal outcome per request.
The count and the issued rows change in the same transaction, so issuedQuantity == issued rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from botocore.exceptions import ClientError

from coupons.dal.batch_get import batch_get
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
from coupons.models.items import (
    COUPON_SK,
    REQUEST_SK,
    CouponItem,
    IssuedCouponItem,
    RequestOutcomeItem,
)
from coupons.models.types import RejectReason, RequestStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_ACTIONS_PER_TRANSACTION = 100

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


@dataclass
class _Chunk:
    issued: list[IssueRequested]
    rejected: list[tuple[IssueRequested, RejectReason]]


def plan_chunks(allocation: Allocation, coupon_exists: bool) -> list[_Chunk]:
    """Pack the decision into transactions of <= 100 actions, issued requests first.

    Issued first: a SOLD_OUT or in-batch ALREADY_ISSUED outcome is only written after the issues it
    depends on have committed (a crash in between leaves nothing inconsistent, just work to redo).
    A chunk costs one coupon action (the update when it issues; the existence check when the coupon
    is missing), two actions per issued request and one per rejection.
    """
    chunks: list[_Chunk] = []
    current = _Chunk([], [])

    def fits(extra_issued: int, extra_rejected: int) -> bool:
        issued = len(current.issued) + extra_issued
        coupon_action = 1 if (issued or not coupon_exists) else 0
        return (
            coupon_action + 2 * issued + len(current.rejected) + extra_rejected <= MAX_ACTIONS_PER_TRANSACTION
        )

    for request in allocation.issued:
        if not fits(1, 0):
            chunks.append(current)
            current = _Chunk([], [])
        current.issued.append(request)
    for rejection in allocation.rejected:
        if not fits(0, 1):
            chunks.append(current)
            current = _Chunk([], [])
        current.rejected.append((rejection.request, rejection.reason))
    if current.issued or current.rejected:
        chunks.append(current)
    return chunks


class IssuerRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read_group_state(
        self,
        coupon_id: str,
        request_ids: Sequence[UUID],
        user_ids: Sequence[str],
        *,
        read_outcomes: bool = True,
    ) -> GroupState:
        keys = [coupon_key(coupon_id)]
        if read_outcomes:
            keys += [outcome_key(request_id) for request_id in request_ids]
        keys += [issued_key(coupon_id, user_id) for user_id in user_ids]
        state = GroupState(coupon=None)
        for item in batch_get(self._client, self._table, keys, projection=_READ_PROJECTION):
            sk = item["sk"]["S"]
            if sk == COUPON_SK:
                state.coupon = coupon_from_item(item)
            elif sk == REQUEST_SK:
                state.decided.add(UUID(item["requestId"]["S"]))
            else:
                state.holders.add(item["userId"]["S"])
                state.decided.add(UUID(item["requestId"]["S"]))  # the request that issued it
        return state

    def write_allocation(
        self, allocation: Allocation, coupon: CouponItem | None, processed_at: datetime
    ) -> int:
        chunks = plan_chunks(allocation, coupon_exists=coupon is not None)
        for chunk in chunks:
            actions, kinds = self._chunk_actions(allocation.coupon_id, coupon, chunk, processed_at)
            self.transact(actions, kinds)
        return len(chunks)

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

    def _chunk_actions(
        self, coupon_id: str, coupon: CouponItem | None, chunk: _Chunk, processed_at: datetime
    ) -> tuple[list[TransactWriteItemTypeDef], list[_Action]]:
        actions: list[TransactWriteItemTypeDef] = []
        kinds: list[_Action] = []
        if coupon is None:
            # COUPON_NOT_FOUND only holds if the coupon still does not exist when we write.
            actions.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": coupon_key(coupon_id),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            kinds.append(_Action.COUPON)
        elif chunk.issued:
            k = len(chunk.issued)
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": coupon_key(coupon_id),
                        "UpdateExpression": "SET issuedQuantity = issuedQuantity + :k",
                        "ConditionExpression": "attribute_exists(pk) AND issuedQuantity <= :limit",
                        "ExpressionAttributeValues": {":k": n(k), ":limit": n(coupon.total_quantity - k)},
                    }
                }
            )
            kinds.append(_Action.COUPON)
        for request in chunk.issued:
            issued = IssuedCouponItem(
                coupon_id=coupon_id,
                user_id=request.userId,
                request_id=request.requestId,
                issued_at=processed_at,
            )
            actions.append(self._put_new(issued_to_item(issued)))
            kinds.append(_Action.ISSUED)
            actions.append(self._put_new(outcome_to_item(_outcome(request, None, processed_at))))
            kinds.append(_Action.OUTCOME)
        for request, reason in chunk.rejected:
            actions.append(self._put_new(outcome_to_item(_outcome(request, reason, processed_at))))
            kinds.append(_Action.OUTCOME)
        return actions, kinds

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
