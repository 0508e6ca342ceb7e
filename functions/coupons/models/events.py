"""The issue-request record value on coupon.issue-requested."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, field_serializer

from coupons.models.types import CouponId, UserId, UtcDatetime, iso


class IssueRequested(BaseModel):
    """Value of a record on COUPON_ISSUE_TOPIC (JSON, key = couponId as UTF-8)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requestId: UUID
    couponId: CouponId
    userId: UserId
    requestedAt: UtcDatetime

    @field_serializer("requestedAt")
    def _iso(self, value: datetime) -> str:
        return iso(value)
