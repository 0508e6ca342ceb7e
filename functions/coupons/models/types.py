"""Field types shared by API, event and item models."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

CouponId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
UserId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Timezone required on input, always stored and compared in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO-8601 UTC with a `Z` suffix and millisecond precision (sortable as a string)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    ISSUED = "ISSUED"
    REJECTED = "REJECTED"


class RejectReason(StrEnum):
    SOLD_OUT = "SOLD_OUT"
    ALREADY_ISSUED = "ALREADY_ISSUED"
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    NOT_OPEN = "NOT_OPEN"
