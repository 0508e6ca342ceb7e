"""Values passed between the issuer logic and its store: a read snapshot and a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from coupons.models.events import IssueRequested
from coupons.models.items import CouponItem
from coupons.models.types import RejectReason


@dataclass
class GroupState:
    """A consistent-read snapshot of what one coupon group's decision depends on."""

    coupon: CouponItem | None
    decided: set[UUID] = field(default_factory=set)
    holders: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Rejection:
    request: IssueRequested
    reason: RejectReason


@dataclass
class Allocation:
    coupon_id: str
    issued: list[IssueRequested] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    already_decided: list[IssueRequested] = field(default_factory=list)

    @property
    def has_writes(self) -> bool:
        return bool(self.issued or self.rejected)
