"""DAL details that the handler tests do not pin down: chunking, UnprocessedKeys, cancellation causes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from coupons.dal.batch_get import batch_get
from coupons.dal.codec import coupon_key, outcome_key
from coupons.dal.issuer_repo import MAX_ACTIONS_PER_TRANSACTION, IssuerRepository, _Action, plan_chunks
from coupons.errors import CancelCause, WriteRejected
from coupons.logic.allocation import allocate
from coupons.models.items import CouponItem
from tests.unit.coupons.support import T0, TABLE, issue


def chunk_cost(chunk, coupon_exists: bool) -> int:
    return (1 if chunk.issued or not coupon_exists else 0) + 2 * len(chunk.issued) + len(chunk.rejected)


@pytest.mark.parametrize(
    ("total", "requests", "exists"), [(49, 49, True), (50, 50, True), (120, 500, True), (0, 250, False)]
)
def test_chunks_stay_within_100_actions_and_issue_first(total, requests, exists):
    coupon = (
        CouponItem(coupon_id="c1", name="c", total_quantity=max(total, 1), created_at=T0) if exists else None
    )
    allocation = allocate("c1", coupon, [issue("c1", f"u{i}") for i in range(requests)], set(), set())
    chunks = plan_chunks(allocation, coupon_exists=exists)
    assert all(chunk_cost(c, exists) <= MAX_ACTIONS_PER_TRANSACTION for c in chunks)
    assert sum(len(c.issued) for c in chunks) == len(allocation.issued)
    assert sum(len(c.rejected) for c in chunks) == len(allocation.rejected)
    seen_rejection = False
    for chunk in chunks:  # no issue is written after a rejection
        assert not (seen_rejection and chunk.issued)
        seen_rejection = seen_rejection or bool(chunk.rejected)
    actions = sum(chunk_cost(c, exists) for c in chunks)
    assert len(chunks) <= -(-actions // MAX_ACTIONS_PER_TRANSACTION) + 1  # ~ceil(actions / 100) calls


class FlakyBatchClient:
    """Returns half of the requested keys as UnprocessedKeys the first time."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        request = RequestItems[TABLE]
        keys = request["Keys"]
        assert request["ConsistentRead"] is True and len(keys) <= 100
        self.calls.append(len(keys))
        if len(self.calls) == 1:
            half = len(keys) // 2
            return {
                "Responses": {TABLE: keys[:half]},
                "UnprocessedKeys": {TABLE: {**request, "Keys": keys[half:]}},
            }
        return {"Responses": {TABLE: keys}, "UnprocessedKeys": {}}


def test_batch_get_chunks_by_100_and_retries_unprocessed():
    keys = [outcome_key(f"r{i}") for i in range(250)]
    client = FlakyBatchClient()
    found = batch_get(client, TABLE, keys, sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(found) == 250
    assert client.calls == [100, 50, 100, 50]


def test_write_allocation_maps_cancellation_reasons(ddb):
    repo = IssuerRepository(ddb, TABLE)
    ddb.put_item(TableName=TABLE, Item={**outcome_key("x"), "requestId": {"S": "x"}})
    actions: list[Any] = [
        {
            "Put": {
                "TableName": TABLE,
                "Item": outcome_key("x"),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": coupon_key("c"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]
    with pytest.raises(WriteRejected) as caught:
        repo.transact(actions, [_Action.OUTCOME, _Action.COUPON])
    assert set(caught.value.causes) <= {CancelCause.REQUEST_ALREADY_DECIDED, CancelCause.STOCK_CHANGED}
    assert CancelCause.REQUEST_ALREADY_DECIDED in caught.value.causes


def test_other_client_errors_propagate():
    class Failing:
        def transact_write_items(self, **_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "bad"}}, "TransactWriteItems"
            )

    with pytest.raises(ClientError):
        IssuerRepository(Failing(), TABLE).transact([], [])  # type: ignore[arg-type]


def test_transaction_conflict_is_retryable():
    class Conflicting:
        def transact_write_items(self, **_: Any) -> None:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )

    with pytest.raises(WriteRejected) as caught:
        IssuerRepository(Conflicting(), TABLE).transact([], [_Action.COUPON, _Action.ISSUED])  # type: ignore[arg-type]
    assert caught.value.causes == [CancelCause.CONFLICT]
