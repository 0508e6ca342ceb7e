"""The issuer handler against moto: stock, redelivery, duplicates, poison records, crashes, races."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from botocore.exceptions import ClientError

from coupons.dal.coupons_repo import CouponRepository
from coupons.dal.issuer_repo import IssuerRepository
from coupons.handlers import issuer
from coupons.logic.issuer import IssuerService
from coupons.models.decisions import GroupState
from coupons.models.items import CouponItem
from tests.unit.coupons.invariants import assert_invariants, scan_table
from tests.unit.coupons.support import (
    DLT_TOPIC,
    ISSUE_TOPIC,
    T0,
    TABLE,
    ClientProxy,
    FakeContext,
    FakePublisher,
    event_for,
    issue,
    kafka_event,
    kafka_record,
    partition_of,
)


def make_coupon(ddb, coupon_id: str = "c1", total: int = 3, **window: Any) -> None:
    CouponRepository(ddb, TABLE).create_coupon(
        CouponItem(coupon_id=coupon_id, name=coupon_id, total_quantity=total, created_at=T0, **window)
    )


def invoke(event: dict[str, Any]) -> list[dict[str, Any]]:
    return issuer.lambda_handler(event, FakeContext())["batchItemFailures"]


def statuses(ddb) -> dict[str, tuple[str, str | None]]:
    return {rid: (row["status"], row.get("reason")) for rid, row in scan_table(ddb, TABLE).outcomes.items()}


def test_batch_issues_exactly_stock_and_rejects_the_rest(ddb, issuer_service):
    make_coupon(ddb, total=3)
    requests = [issue("c1", f"u{i}") for i in range(10)]
    assert invoke(event_for(requests)) == []
    summary = assert_invariants(ddb, TABLE, [r.requestId for r in requests])
    assert summary.issued_users["c1"] == {"u0", "u1", "u2"}
    assert summary.reasons == Counter({"SOLD_OUT": 7})


def test_large_batch_is_chunked_and_exact(ddb, issuer_service):
    make_coupon(ddb, total=120)
    requests = [issue("c1", f"u{i}") for i in range(300)]
    assert invoke(event_for(requests)) == []
    summary = assert_invariants(ddb, TABLE, [r.requestId for r in requests])
    assert summary.issued_count("c1") == 120
    assert summary.reasons == Counter({"SOLD_OUT": 180})


def test_same_batch_twice_changes_nothing(ddb, issuer_service):
    make_coupon(ddb, total=2)
    event = event_for([issue("c1", f"u{i}") for i in range(5)])
    assert invoke(event) == []
    before = scan_table(ddb, TABLE)
    assert invoke(event) == []
    after = assert_invariants(ddb, TABLE)
    assert after.outcomes == before.outcomes
    assert after.issued_quantity == before.issued_quantity == {"c1": 2}


def test_a_decided_request_is_never_decided_again_even_when_the_answer_would_change(ddb, issuer_service):
    """Rejected COUPON_NOT_FOUND, then the coupon is created, then the record is delivered again: it
    would now be issued, but its outcome row is read and it keeps its first verdict; the stock goes
    to the new request."""
    early = issue("c1", "u-early")
    assert invoke(event_for([early])) == []
    assert statuses(ddb)[str(early.requestId)] == ("REJECTED", "COUPON_NOT_FOUND")
    make_coupon(ddb, total=1)
    late = issue("c1", "u-late")
    assert invoke(event_for([early, late])) == []
    summary = assert_invariants(ddb, TABLE, [early.requestId, late.requestId])
    assert statuses(ddb)[str(early.requestId)] == ("REJECTED", "COUPON_NOT_FOUND")
    assert summary.issued_users["c1"] == {"u-late"}


def test_user_asking_twice_gets_one_coupon(ddb, issuer_service):
    make_coupon(ddb, total=5)
    first, second = issue("c1", "alice"), issue("c1", "alice", seconds=1)
    assert invoke(event_for([first, second])) == []
    later = issue("c1", "alice", seconds=2)
    assert invoke(event_for([later], first_offset=2)) == []
    result = statuses(ddb)
    assert result[str(first.requestId)] == ("ISSUED", None)
    assert result[str(second.requestId)] == ("REJECTED", "ALREADY_ISSUED")
    assert result[str(later.requestId)] == ("REJECTED", "ALREADY_ISSUED")
    assert assert_invariants(ddb, TABLE).issued_quantity == {"c1": 1}


def test_unknown_coupon_and_closed_window(ddb, issuer_service):
    make_coupon(ddb, "later", total=5, starts_at=T0 + timedelta(days=1))
    unknown, closed = issue("nope", "u1"), issue("later", "u1")
    assert invoke(event_for([unknown, closed])) == []
    result = statuses(ddb)
    assert result[str(unknown.requestId)] == ("REJECTED", "COUPON_NOT_FOUND")
    assert result[str(closed.requestId)] == ("REJECTED", "NOT_OPEN")


def poison_batch() -> tuple[dict[str, Any], list[Any]]:
    good = [issue("c1", "u1"), issue("c1", "u2")]
    p = partition_of("c1")
    records = [
        kafka_record(good[0].model_dump_json().encode(), b"c1", p, 10),
        kafka_record(b"{not json", b"c1", p, 11),
        kafka_record(json.dumps({"couponId": "c1", "userId": "u9"}).encode(), b"c1", p, 12),
        kafka_record(issue("c1", "u3").model_dump_json().encode(), b"other", p, 13),
        kafka_record(good[1].model_dump_json().encode(), b"c1", p, 14),
    ]
    return kafka_event(records), good


def test_malformed_records_go_to_dlt_and_neighbours_are_processed(
    ddb, issuer_service, publisher: FakePublisher
):
    make_coupon(ddb, total=5)
    event, good = poison_batch()
    assert invoke(event) == []
    dead = publisher.on(DLT_TOPIC)
    assert [m.json()["errorType"] for m in dead] == ["InvalidJson", "SchemaViolation", "KeyMismatch"]
    assert "requestId" in dead[1].json()["reason"] and "requestedAt" in dead[1].json()["reason"]
    first = dead[0].json()
    assert first["condition"] == "NonRetryableError"
    assert dead[0].key == b"c1" and dead[2].key == b"other"
    assert ("content-type", b"application/json") in dead[0].headers
    partition_id = f"{ISSUE_TOPIC}-{partition_of('c1')}"
    assert first["payload"]["eventSource"] == "SelfManagedKafka"
    assert [r["offset"] for r in first["payload"]["records"][partition_id]] == [11]
    assert first["payload"]["records"][partition_id][0] == event["records"][partition_id][1]
    assert set(statuses(ddb)) == {str(r.requestId) for r in good}
    assert_invariants(ddb, TABLE, [r.requestId for r in good])


def test_failing_dlt_publish_reports_the_record(ddb, issuer_service, publisher: FakePublisher):
    make_coupon(ddb, total=5)
    publisher.failing.add(DLT_TOPIC)
    event, good = poison_batch()
    partition_id = f"{ISSUE_TOPIC}-{partition_of('c1')}"
    assert invoke(event) == [
        {"itemIdentifier": {"partition": partition_id, "offset": offset}} for offset in (11, 12, 13)
    ]
    assert set(statuses(ddb)) == {str(r.requestId) for r in good}


class CrashingClient(ClientProxy):
    """The function dies after `allowed` write calls (transactions or batch puts) went through."""

    def __init__(self, ddb, allowed: int) -> None:
        super().__init__(ddb)
        self.allowed = allowed

    def _write(self, operation: str, **request: Any) -> Any:
        if self.allowed <= 0:
            raise RuntimeError("simulated crash")
        self.allowed -= 1
        return getattr(self._client, operation)(**request)

    def transact_write_items(self, **request: Any) -> Any:
        return self._write("transact_write_items", **request)

    def batch_write_item(self, **request: Any) -> Any:
        return self._write("batch_write_item", **request)


# 120 issues = 2 transactions, then 300 outcome rows = 12 batch puts.
@pytest.mark.parametrize(
    "writes_before_crash",
    [1, 2, 5],
    ids=["between-issue-transactions", "after-issues-before-outcomes", "between-outcome-puts"],
)
def test_crash_mid_batch_then_redelivery(ddb, issuer_service, publisher, writes_before_crash):
    make_coupon(ddb, total=120)
    requests = [issue("c1", f"u{i % 200}") for i in range(300)]  # 100 users ask twice
    event = event_for(requests)
    crashing = IssuerRepository(CrashingClient(ddb, writes_before_crash), TABLE)  # type: ignore[arg-type]
    issuer.set_service(IssuerService(crashing, publisher, DLT_TOPIC, sleep=lambda _: None))
    failures = invoke(event)
    assert len(failures) == len(requests)  # the whole group is retried
    partial = assert_invariants(ddb, TABLE, settled=False)  # invariants hold even mid-way
    assert 0 < partial.issued_count("c1") <= 120
    assert len(partial.outcomes) < len(requests)

    issuer.set_service(issuer_service)
    assert invoke(event) == []
    summary = assert_invariants(ddb, TABLE, [r.requestId for r in requests])
    assert summary.issued_count("c1") == 120
    assert summary.reasons == Counter({"ALREADY_ISSUED": 100, "SOLD_OUT": 80})


class CancelSecondTransactionOnce(ClientProxy):
    """The second TransactWriteItems call is cancelled by a conflict, once."""

    def __init__(self, ddb) -> None:
        super().__init__(ddb)
        self.transactions = 0

    def transact_write_items(self, **request: Any) -> Any:
        self.transactions += 1
        if self.transactions == 2:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return self._client.transact_write_items(**request)


def test_every_record_is_counted_once_when_a_later_transaction_is_cancelled(ddb, publisher):
    """The first transaction's 99 issues commit, the second is cancelled; the retry finds those 99
    issued without outcome rows, reports them and issues the rest. The counts add up to the batch."""
    make_coupon(ddb, total=150)
    requests = [issue("c1", f"u{i}") for i in range(200)]
    repository = IssuerRepository(CancelSecondTransactionOnce(ddb), TABLE)  # type: ignore[arg-type]
    service = IssuerService(repository, publisher, DLT_TOPIC, sleep=lambda _: None)
    result = service.process(_parse(event_for(requests)))
    assert result.write_retries == 1 and result.failures == []
    assert result.issued == 150 and result.rejected == Counter({"SOLD_OUT": 50})
    assert result.already_decided == 0
    assert assert_invariants(ddb, TABLE, [r.requestId for r in requests]).issued_count("c1") == 150


class Interleaved(IssuerRepository):
    """After its first read, lets another consumer run the whole batch (a rebalance overlap)."""

    def __init__(self, ddb, run_other) -> None:
        super().__init__(ddb, TABLE)
        self.run_other = run_other
        self.reads = 0

    def read_group_state(
        self, coupon_id: str, request_ids: Sequence[UUID], user_ids: Sequence[str]
    ) -> GroupState:
        state = super().read_group_state(coupon_id, request_ids, user_ids)
        self.reads += 1
        if self.reads == 1:
            self.run_other()
        return state


@pytest.mark.parametrize("second_batch_overlap", [1.0, 0.5])
def test_two_consumers_interleaved_on_same_records(ddb, publisher, second_batch_overlap):
    make_coupon(ddb, total=40)
    requests = [issue("c1", f"u{i % 70}") for i in range(100)]
    event = event_for(requests)
    # The other consumer sees all records, or only the second half plus new ones (a rebalance mid-batch).
    cut = int(len(requests) * (1 - second_batch_overlap))
    extra = [issue("c1", f"x{i}") for i in range(20)]
    other_event = event_for(requests[cut:] + extra)
    other = IssuerService(IssuerRepository(ddb, TABLE), publisher, DLT_TOPIC, sleep=lambda _: None)
    racing = Interleaved(ddb, lambda: other.process(_parse(other_event)))
    first = IssuerService(racing, publisher, DLT_TOPIC, sleep=lambda _: None)
    result = first.process(_parse(event))
    assert result.failures == []
    assert result.write_retries >= 1  # the stale decision was rejected by the table, not trusted
    summary = assert_invariants(ddb, TABLE, [r.requestId for r in requests + extra])
    assert summary.issued_count("c1") == 40


class ReadInterleavingClient(ClientProxy):
    """Runs another consumer right after this consumer's n-th read call: a racing consumer commits
    between the reads of one decision (the reads are no snapshot together)."""

    def __init__(self, ddb, run_other, after_reads: int) -> None:
        super().__init__(ddb)
        self._run_other = run_other
        self._reads_left = after_reads

    def _read(self, operation: str, **request: Any) -> Any:
        response = getattr(self._client, operation)(**request)
        self._reads_left -= 1
        if self._reads_left == 0:
            self._run_other()
        return response

    def get_item(self, **request: Any) -> Any:
        return self._read("get_item", **request)

    def batch_get_item(self, **request: Any) -> Any:
        return self._read("batch_get_item", **request)


@pytest.mark.parametrize("second_batch_overlap", [1.0, 0.5])
@pytest.mark.parametrize("after_reads", [1, 2])  # a decision reads in 3 calls: coupon, 100 keys, 70 keys
def test_a_consumer_racing_between_the_reads_of_a_decision_is_never_contradicted(
    ddb, publisher, second_batch_overlap, after_reads
):
    """Outcome rows are plain puts, so a verdict built on a stale read would overwrite a true one
    (e.g. SOLD_OUT over ISSUED). Reading the coupon before the holders and outcomes prevents it."""
    make_coupon(ddb, total=40)
    requests = [issue("c1", f"u{i % 70}") for i in range(100)]
    cut = int(len(requests) * (1 - second_batch_overlap))
    extra = [issue("c1", f"x{i}") for i in range(20)]
    other = IssuerService(IssuerRepository(ddb, TABLE), publisher, DLT_TOPIC, sleep=lambda _: None)
    client = ReadInterleavingClient(
        ddb, lambda: other.process(_parse(event_for(requests[cut:] + extra))), after_reads
    )
    repository = IssuerRepository(client, TABLE)  # type: ignore[arg-type]
    first = IssuerService(repository, publisher, DLT_TOPIC, sleep=lambda _: None)
    assert first.process(_parse(event_for(requests))).failures == []
    summary = assert_invariants(ddb, TABLE, [r.requestId for r in requests + extra])
    assert summary.issued_count("c1") == 40


def _parse(event):
    from common.kafka_records import KafkaEvent

    return KafkaEvent.model_validate(event)


def test_unexpected_error_in_one_group_does_not_fail_others(ddb, publisher):
    make_coupon(ddb, "good", total=5)
    make_coupon(ddb, "bad", total=5)

    class Broken(IssuerRepository):
        def read_group_state(self, coupon_id, request_ids, user_ids):
            if coupon_id == "bad":
                raise RuntimeError("boom")
            return super().read_group_state(coupon_id, request_ids, user_ids)

    issuer.set_service(IssuerService(Broken(ddb, TABLE), publisher, DLT_TOPIC))
    try:
        bad, good = issue("bad", "u1"), issue("good", "u1")
        failures = invoke(event_for([bad, good]))
    finally:
        issuer.set_service(None)
    assert failures == [
        {"itemIdentifier": {"partition": f"{ISSUE_TOPIC}-{partition_of('bad')}", "offset": 0}}
    ]
    assert set(statuses(ddb)) == {str(good.requestId)}


def test_persistent_conflicts_become_item_failures(ddb, publisher):
    make_coupon(ddb, total=5)

    class AlwaysRacing(IssuerRepository):
        def read_group_state(self, coupon_id, request_ids, user_ids):
            state = super().read_group_state(coupon_id, request_ids, user_ids)
            # Someone else keeps issuing to a new user between our read and our write.
            self._client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "COUPON#c1"}, "sk": {"S": "COUPON"}},
                UpdateExpression="SET issuedQuantity = issuedQuantity + :z",
                ExpressionAttributeValues={":z": {"N": "0"}},
            )
            if state.coupon is not None:
                state.coupon = state.coupon.model_copy(
                    update={"issued_quantity": state.coupon.issued_quantity - 1}
                )
            return state

    service = IssuerService(
        AlwaysRacing(ddb, TABLE), publisher, DLT_TOPIC, max_attempts=3, sleep=lambda _: None
    )
    requests = [issue("c1", f"u{i}") for i in range(6)]
    result = service.process(_parse(event_for(requests)))
    assert len(result.failures) == 6 and result.write_retries == 3
    assert_invariants(ddb, TABLE)
