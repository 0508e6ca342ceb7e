"""DAL details that the handler tests do not pin down: chunking, write order, unprocessed keys and\nitems, cancellation causes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.ddb.batch_get import batch_get
from common.ddb.batch_write import UnprocessedItemsError, batch_put
from coupons.dal.codec import coupon_key, outcome_key
from coupons.dal.coupons_repo import CouponRepository
from coupons.dal.issuer_repo import MAX_ACTIONS_PER_TRANSACTION, IssuerRepository, _Action
from coupons.errors import CancelCause, WriteRejected
from coupons.logic.allocation import allocate
from coupons.models.items import REQUEST_SK, CouponItem
from tests.unit.coupons.invariants import assert_invariants
from tests.unit.coupons.support import T0, TABLE, ClientProxy, issue


class RecordingClient(ClientProxy):
    """Records, in order, what each write call carried."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.writes: list[tuple[str, list[str]]] = []  # (operation, sort key prefix per item)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> Any:
        kinds = []
        for action in TransactItems:
            (body,) = action.values()
            key = body.get("Item") or body["Key"]
            kinds.append(key["sk"]["S"].split("#")[0])
        self.writes.append(("transact", kinds))
        return self._client.transact_write_items(TransactItems=TransactItems)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        puts = RequestItems[TABLE]
        self.writes.append(("batch", [put["PutRequest"]["Item"]["sk"]["S"] for put in puts]))
        return self._client.batch_write_item(RequestItems=RequestItems)


@pytest.mark.parametrize(("total", "requests"), [(99, 99), (100, 100), (120, 500), (1, 30)])
def test_issues_in_transactions_of_at_most_100_then_outcomes_in_batches_of_25(ddb, total, requests):
    """The coupon update and its issued rows commit together; outcome rows are written only after
    every issue committed, with BatchWriteItem."""
    CouponRepository(ddb, TABLE).create_coupon(
        CouponItem(coupon_id="c1", name="c", total_quantity=total, created_at=T0)
    )
    client = RecordingClient(ddb)
    repo = IssuerRepository(client, TABLE)  # type: ignore[arg-type]
    batch = [issue("c1", f"u{i}") for i in range(requests)]
    state = repo.read_group_state("c1", [r.requestId for r in batch], [r.userId for r in batch])
    allocation = allocate("c1", state.coupon, batch, state.holders, state.reported)
    transactions = repo.write_allocation(allocation, state.coupon, T0)

    issues = [kinds for op, kinds in client.writes if op == "transact"]
    assert len(issues) == transactions == -(-total // (MAX_ACTIONS_PER_TRANSACTION - 1))
    assert all(len(kinds) <= MAX_ACTIONS_PER_TRANSACTION and kinds[0] == "COUPON" for kinds in issues)
    assert sum(len(kinds) - 1 for kinds in issues) == total
    first_batch = next(i for i, (op, _) in enumerate(client.writes) if op == "batch")
    assert all(op == "batch" for op, _ in client.writes[first_batch:])  # no issue after an outcome
    outcomes = [sk for op, sks in client.writes if op == "batch" for sk in sks]
    assert all(len(sks) <= 25 for op, sks in client.writes if op == "batch")
    assert len(outcomes) == requests and set(outcomes) == {REQUEST_SK}
    assert_invariants(ddb, TABLE, [r.requestId for r in batch])


def test_a_missing_coupon_is_reported_in_transactions_that_check_it_is_still_missing(ddb):
    client = RecordingClient(ddb)
    repo = IssuerRepository(client, TABLE)  # type: ignore[arg-type]
    batch = [issue("nope", f"u{i}") for i in range(150)]
    state = repo.read_group_state("nope", [r.requestId for r in batch], [r.userId for r in batch])
    allocation = allocate("nope", state.coupon, batch, state.holders, state.reported)
    assert repo.write_allocation(allocation, state.coupon, T0) == 2
    assert [op for op, _ in client.writes] == ["transact", "transact"]
    assert all(kinds[0] == "COUPON" and set(kinds[1:]) == {"REQUEST"} for _, kinds in client.writes)


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


class ThrottledWriteClient:
    """Leaves the last item of every call unprocessed `throttled` times in a row."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.calls: list[int] = []
        self.written: list[str] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        puts = RequestItems[TABLE]
        assert len(puts) <= 25
        self.calls.append(len(puts))
        if self.throttled:
            self.throttled -= 1
            self.written += [put["PutRequest"]["Item"]["pk"]["S"] for put in puts[:-1]]
            return {"UnprocessedItems": {TABLE: puts[-1:]}}
        self.written += [put["PutRequest"]["Item"]["pk"]["S"] for put in puts]
        return {"UnprocessedItems": {}}


def test_batch_put_chunks_by_25_and_retries_unprocessed_items():
    items = [outcome_key(f"r{i}") for i in range(30)]
    client = ThrottledWriteClient(throttled=2)
    assert batch_put(client, TABLE, items, sleep=lambda _: None) == 4  # type: ignore[arg-type]
    assert client.calls == [25, 1, 1, 5]
    assert sorted(client.written) == sorted(item["pk"]["S"] for item in items)


def test_batch_put_gives_up_on_sustained_throttling():
    client = ThrottledWriteClient(throttled=100)
    with pytest.raises(UnprocessedItemsError):
        batch_put(client, TABLE, [outcome_key("r1")], sleep=lambda _: None)  # type: ignore[arg-type]


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
