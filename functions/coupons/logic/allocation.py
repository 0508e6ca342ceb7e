"""The allocation decision for one coupon's requests in a batch: pure, deterministic, no I/O.

First come, first served in record order. The decision is a proposal: the DAL makes it stick only if
the table still matches what was read (conditions), otherwise the caller re-reads and decides again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from uuid import UUID

from coupons.models.decisions import Allocation, Rejection
from coupons.models.events import IssueRequested
from coupons.models.items import CouponItem
from coupons.models.types import RejectReason

__all__ = ["Allocation", "Rejection", "allocate", "is_open"]


def is_open(coupon: CouponItem, request: IssueRequested) -> bool:
    """Open on [startsAt, endsAt), judged by when the API accepted the request (stable on redelivery)."""
    if coupon.starts_at is not None and request.requestedAt < coupon.starts_at:
        return False
    return not (coupon.ends_at is not None and request.requestedAt >= coupon.ends_at)


def allocate(
    coupon_id: str,
    coupon: CouponItem | None,
    requests: Sequence[IssueRequested],
    holders: Mapping[str, UUID],
    reported: Set[UUID],
) -> Allocation:
    """Decide every not-yet-decided request of one coupon.

    coupon: the coupon as read (None = does not exist); holders: users that already hold it, with
    the request that issued it; reported: request ids that already have an outcome row (redelivery,
    or a racing consumer won). A requestId seen twice in `requests` is decided once.
    """
    allocation = Allocation(coupon_id)
    remaining = coupon.remaining_quantity if coupon else 0
    taken = set(holders)
    seen: set[UUID] = set()
    for request in requests:
        if request.requestId in reported or request.requestId in seen:
            allocation.already_decided.append(request)
            continue
        seen.add(request.requestId)
        if holders.get(request.userId) == request.requestId:
            allocation.unreported.append(request)  # issued before, its outcome row never written
            continue
        reason = _rejection_reason(coupon, request, taken, remaining)
        if reason is not None:
            allocation.rejected.append(Rejection(request, reason))
            continue
        allocation.issued.append(request)
        taken.add(request.userId)
        remaining -= 1
    return allocation


def _rejection_reason(
    coupon: CouponItem | None, request: IssueRequested, taken: Set[str], remaining: int
) -> RejectReason | None:
    if coupon is None:
        return RejectReason.COUPON_NOT_FOUND
    if not is_open(coupon, request):
        return RejectReason.NOT_OPEN
    if request.userId in taken:
        return RejectReason.ALREADY_ISSUED
    if remaining <= 0:
        return RejectReason.SOLD_OUT
    return None
