"""Values passed between the issuer logic and its store: a read snapshot and a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from coupons.models.events import IssueRequested
from coupons.models.items import CouponItem
from coupons.models.types import RejectReason


@dataclass
class GroupState:
    """What one coupon group's decision depends on, read coupon first (see IssuerRepository)."""

    coupon: CouponItem | None
    holders: dict[str, UUID] = field(default_factory=dict)  # userId -> the request that issued it
    reported: set[UUID] = field(default_factory=set)  # requests that have an outcome row


@dataclass(frozen=True)
class Rejection:
    request: IssueRequested
    reason: RejectReason


@dataclass
class Allocation:
    coupon_id: str
    issued: list[IssueRequested] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    # Issued by an earlier attempt that stopped before writing the outcome row: only the row is owed.
    unreported: list[IssueRequested] = field(default_factory=list)
    already_decided: list[IssueRequested] = field(default_factory=list)

    @property
    def has_writes(self) -> bool:
        return bool(self.issued or self.rejected or self.unreported)
