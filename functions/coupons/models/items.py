"""Table items (single table: keys pk/sk, GSI gsi1 on gsi1pk/gsi1sk) as plain pydantic models.

Key layout lives here too so the DAL and tests agree on it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from coupons.models.types import RejectReason, RequestStatus


def coupon_pk(coupon_id: str) -> str:
    return f"COUPON#{coupon_id}"


COUPON_SK = "COUPON"


def user_sk(user_id: str) -> str:
    return f"USER#{user_id}"


def request_pk(request_id: UUID | str) -> str:
    return f"REQUEST#{request_id}"


REQUEST_SK = "REQUEST"


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True)


class CouponItem(_Item):
    """pk COUPON#<couponId>, sk COUPON."""

    coupon_id: str
    name: str
    total_quantity: int
    issued_quantity: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    created_at: datetime

    @property
    def remaining_quantity(self) -> int:
        return max(self.total_quantity - self.issued_quantity, 0)


class IssuedCouponItem(_Item):
    """pk COUPON#<couponId>, sk USER#<userId>; gsi1pk USER#<userId>, gsi1sk COUPON#<couponId>."""

    coupon_id: str
    user_id: str
    request_id: UUID
    issued_at: datetime


class RequestOutcomeItem(_Item):
    """pk REQUEST#<requestId>, sk REQUEST. Written once; its absence means the request is PENDING."""

    request_id: UUID
    coupon_id: str
    user_id: str
    status: RequestStatus
    reason: RejectReason | None = None
    requested_at: datetime
    processed_at: datetime
