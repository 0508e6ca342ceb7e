"""The pure allocation decision: first come first served, stock, one per user, window, redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from coupons.logic.allocation import allocate
from coupons.models.items import CouponItem
from coupons.models.types import RejectReason
from tests.unit.coupons.support import T0, issue


def coupon(total: int = 2, issued: int = 0, **window: Any) -> CouponItem:
    return CouponItem(
        coupon_id="c1", name="C1", total_quantity=total, issued_quantity=issued, created_at=T0, **window
    )


def reasons(allocation) -> list[tuple[str, RejectReason]]:
    return [(r.request.userId, r.reason) for r in allocation.rejected]


def test_first_come_first_served_in_record_order():
    requests = [issue("c1", f"u{i}", seconds=10 - i) for i in range(4)]  # record order wins, not timestamps
    allocation = allocate("c1", coupon(total=2), requests, {}, set())
    assert [r.userId for r in allocation.issued] == ["u0", "u1"]
    assert reasons(allocation) == [("u2", RejectReason.SOLD_OUT), ("u3", RejectReason.SOLD_OUT)]


def test_stock_boundary_counts_already_issued_quantity():
    requests = [issue("c1", f"u{i}") for i in range(3)]
    allocation = allocate("c1", coupon(total=5, issued=4), requests, {}, set())
    assert [r.userId for r in allocation.issued] == ["u0"]
    assert [reason for _, reason in reasons(allocation)] == [RejectReason.SOLD_OUT] * 2

    exact = allocate("c1", coupon(total=3), requests, {}, set())
    assert len(exact.issued) == 3 and not exact.rejected

    sold_out = allocate("c1", coupon(total=3, issued=3), requests, {}, set())
    assert not sold_out.issued and len(sold_out.rejected) == 3


def test_same_user_twice_in_batch_gets_one():
    requests = [issue("c1", "alice"), issue("c1", "bob"), issue("c1", "alice")]
    allocation = allocate("c1", coupon(total=10), requests, {}, set())
    assert [r.userId for r in allocation.issued] == ["alice", "bob"]
    assert reasons(allocation) == [("alice", RejectReason.ALREADY_ISSUED)]


def test_user_already_holding_is_rejected_and_frees_no_stock():
    requests = [issue("c1", "alice"), issue("c1", "bob")]
    allocation = allocate("c1", coupon(total=2, issued=1), requests, {"alice": uuid4()}, set())
    assert [r.userId for r in allocation.issued] == ["bob"]
    assert reasons(allocation) == [("alice", RejectReason.ALREADY_ISSUED)]


def test_not_open_outside_window():
    early = issue("c1", "early", seconds=-1)
    at_start = issue("c1", "start", seconds=0)
    at_end = issue("c1", "end", seconds=3600)  # endsAt is exclusive
    allocation = allocate(
        "c1",
        coupon(total=10, starts_at=T0, ends_at=T0 + timedelta(hours=1)),
        [early, at_start, at_end],
        {},
        set(),
    )
    assert [r.userId for r in allocation.issued] == ["start"]
    assert reasons(allocation) == [("early", RejectReason.NOT_OPEN), ("end", RejectReason.NOT_OPEN)]


def test_coupon_not_found():
    allocation = allocate("c1", None, [issue("c1", "u1"), issue("c1", "u2")], {}, set())
    assert not allocation.issued
    assert [reason for _, reason in reasons(allocation)] == [RejectReason.COUPON_NOT_FOUND] * 2


def test_already_decided_requests_are_skipped_and_duplicates_decided_once():
    done, fresh = issue("c1", "u1"), issue("c1", "u2")
    allocation = allocate(
        "c1", coupon(total=1, issued=1), [done, fresh, fresh], {"u1": done.requestId}, {done.requestId}
    )
    assert allocation.already_decided == [done, fresh]
    assert reasons(allocation) == [("u2", RejectReason.SOLD_OUT)]


def test_an_issued_request_without_outcome_row_only_gets_its_row():
    """A crash between the issue and the outcome write: on redelivery the holder's row names the
    request, which is owed its ISSUED outcome and takes no stock."""
    issued_before, other = issue("c1", "u1"), issue("c1", "u2")
    allocation = allocate(
        "c1", coupon(total=2, issued=1), [issued_before, other], {"u1": issued_before.requestId}, set()
    )
    assert allocation.unreported == [issued_before]
    assert [r.userId for r in allocation.issued] == ["u2"]
    assert allocation.has_writes


def test_nothing_to_write_when_all_decided():
    requests = [issue("c1", "u1"), issue("c1", "u2")]
    allocation = allocate("c1", coupon(), requests, {}, {r.requestId for r in requests})
    assert not allocation.has_writes
