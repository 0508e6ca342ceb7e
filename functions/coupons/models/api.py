"""HTTP API request and response bodies (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer, model_validator

from coupons.models.types import CouponId, RejectReason, RequestStatus, UserId, UtcDatetime, iso

MAX_TOTAL_QUANTITY = 10_000_000


class _Request(BaseModel):
    # strict: "5" is not an int and true is not a quantity; extra fields are a client bug worth reporting.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CreateCouponRequest(_Request):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    totalQuantity: int = Field(ge=1, le=MAX_TOTAL_QUANTITY)
    couponId: CouponId | None = None
    startsAt: UtcDatetime | None = None
    endsAt: UtcDatetime | None = None

    @model_validator(mode="after")
    def _window_is_ordered(self) -> CreateCouponRequest:
        if self.startsAt and self.endsAt and self.endsAt <= self.startsAt:
            raise ValueError("endsAt must be after startsAt")
        return self


class IssueCouponRequest(_Request):
    userId: UserId


class CouponIdPath(_Request):
    couponId: CouponId


class UserIdPath(_Request):
    userId: UserId


class RequestIdPath(BaseModel):
    # Not strict: the path segment is a string that must parse as a UUID.
    requestId: UUID


class _Response(BaseModel):
    @field_serializer("*", when_used="json")
    def _datetimes_as_iso(self, value: object) -> object:
        return iso(value) if isinstance(value, datetime) else value


class CouponResponse(_Response):
    couponId: str
    name: str
    totalQuantity: int
    issuedQuantity: int
    remainingQuantity: int
    startsAt: datetime | None
    endsAt: datetime | None
    createdAt: datetime


class IssueAcceptedResponse(_Response):
    requestId: UUID
    status: RequestStatus = RequestStatus.PENDING


class RequestStatusResponse(_Response):
    requestId: UUID
    status: RequestStatus
    couponId: str | None = None
    userId: str | None = None
    reason: RejectReason | None = None
    requestedAt: datetime | None = None
    processedAt: datetime | None = None
    issuedAt: datetime | None = None


class UserCouponResponse(_Response):
    couponId: str
    userId: str
    requestId: UUID
    issuedAt: datetime


class UserCouponsResponse(_Response):
    items: list[UserCouponResponse]
