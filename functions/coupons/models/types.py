"""Field types shared by API, event and item models."""

from __future__ import annotations

from enum import StrEnum

from common.types import Identifier, UtcDatetime, iso, utc_now

CouponId = Identifier
UserId = Identifier

__all__ = ["CouponId", "RejectReason", "RequestStatus", "UserId", "UtcDatetime", "iso", "utc_now"]


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    ISSUED = "ISSUED"
    REJECTED = "REJECTED"


class RejectReason(StrEnum):
    SOLD_OUT = "SOLD_OUT"
    ALREADY_ISSUED = "ALREADY_ISSUED"
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    NOT_OPEN = "NOT_OPEN"
