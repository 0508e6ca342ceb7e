"""The four coupon invariants, checked against a whole table. Reusable by integration tests.

1. per coupon: issued items <= totalQuantity;
2. at most one issued coupon per (coupon, user), and every ISSUED outcome is backed by its issued item
   (once settled, every issued item by an ISSUED outcome: a crash between the issue and the outcome
   write leaves that owed to the redelivery);
3. every expected request has exactly one terminal outcome row (ISSUED or REJECTED with a reason);
4. per coupon: issuedQuantity == number of issued items.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass
class TableSummary:
    total: dict[str, int] = field(default_factory=dict)  # couponId -> totalQuantity
    issued_quantity: dict[str, int] = field(default_factory=dict)  # couponId -> counter on the coupon
    issued_users: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # requestId -> row (plain values)
    reasons: Counter[str] = field(default_factory=Counter)

    def issued_count(self, coupon_id: str) -> int:
        return len(self.issued_users.get(coupon_id, set()))


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: (int(value["N"]) if "N" in value else value.get("S")) for name, value in item.items()}


def scan_table(
    client: DynamoDBClient, table_name: str, *, waited_for: set[str] | None = None
) -> TableSummary:
    """Issued items must have their ISSUED outcome: all of them, or with `waited_for` only those of
    these requests (others may be in flight between their issue and their outcome put)."""
    summary = TableSummary()
    issued_requests: dict[tuple[str, str], str] = {}
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        for raw in page.get("Items", []):
            item = _plain(raw)
            pk, sk = item["pk"], item["sk"]
            if pk.startswith("COUPON#") and sk == "COUPON":
                summary.total[item["couponId"]] = item["totalQuantity"]
                summary.issued_quantity[item["couponId"]] = item["issuedQuantity"]
            elif pk.startswith("COUPON#") and sk.startswith("USER#"):
                summary.issued_users[item["couponId"]].add(item["userId"])
                issued_requests[(item["couponId"], item["userId"])] = item["requestId"]
                assert item["gsi1pk"] == f"USER#{item['userId']}", item
                assert item["gsi1sk"] == pk, item
            elif pk.startswith("REQUEST#"):
                summary.outcomes[item["requestId"]] = item
    _check_outcomes_match_items(summary, issued_requests, waited_for)
    return summary


def _check_outcomes_match_items(
    summary: TableSummary, issued_requests: dict[tuple[str, str], str], waited_for: set[str] | None
) -> None:
    issued_outcomes: Counter[tuple[str, str]] = Counter()
    for request_id, outcome in summary.outcomes.items():
        if outcome["status"] == "ISSUED":
            pair = (outcome["couponId"], outcome["userId"])
            issued_outcomes[pair] += 1
            assert issued_requests.get(pair) == request_id, (
                f"ISSUED outcome {request_id} has no matching issued item"
            )
        else:
            assert outcome["status"] == "REJECTED", outcome
            assert outcome.get("reason") in {"SOLD_OUT", "ALREADY_ISSUED", "COUPON_NOT_FOUND", "NOT_OPEN"}, (
                outcome
            )
            summary.reasons[outcome["reason"]] += 1
    twice = [pair for pair, count in issued_outcomes.items() if count > 1]
    assert not twice, f"users issued twice: {twice}"
    orphans = [
        pair
        for pair, request_id in issued_requests.items()
        if pair not in issued_outcomes and (waited_for is None or request_id in waited_for)
    ]
    assert not orphans, f"issued items without an ISSUED outcome: {orphans}"


def assert_invariants(
    client: DynamoDBClient,
    table_name: str,
    expected_request_ids: Iterable[object] | None = None,
    *,
    settled: bool = True,
) -> TableSummary:
    """Raise AssertionError naming the first broken invariant; return the summary for further checks.

    settled=False: the issuer may have stopped mid-batch, so issued items may still lack outcomes.
    With `expected_request_ids`, only those requests' issued items must have theirs."""
    expected = None if expected_request_ids is None else {str(rid) for rid in expected_request_ids}
    summary = scan_table(client, table_name, waited_for=expected if settled else set())
    for coupon_id, total in summary.total.items():
        issued = summary.issued_count(coupon_id)
        assert issued <= total, f"{coupon_id}: {issued} issued > totalQuantity {total}"
        assert summary.issued_quantity[coupon_id] == issued, (
            f"{coupon_id}: issuedQuantity {summary.issued_quantity[coupon_id]} != {issued} issued items"
        )
    unknown = set(summary.issued_users) - set(summary.total)
    assert not unknown, f"issued items for coupons that do not exist: {unknown}"
    if expected is not None:
        missing = expected - set(summary.outcomes)
        assert not missing, f"{len(missing)} requests without a terminal outcome, e.g. {sorted(missing)[:3]}"
    return summary
