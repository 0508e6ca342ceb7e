"""Domain errors shared by logic and DAL (the DAL raises them, logic and handlers react to them)."""

from __future__ import annotations

from enum import StrEnum


class CouponError(Exception):
    """Base class for coupon domain errors."""


class CouponAlreadyExists(CouponError):
    def __init__(self, coupon_id: str) -> None:
        super().__init__(f"coupon {coupon_id!r} already exists")
        self.coupon_id = coupon_id


class CancelCause(StrEnum):
    """Why one action of a cancelled TransactWriteItems failed, in domain terms."""

    STOCK_CHANGED = "STOCK_CHANGED"  # coupon update condition: someone else issued meanwhile (or coupon gone)
    REQUEST_ALREADY_DECIDED = "REQUEST_ALREADY_DECIDED"  # outcome row exists: a racing consumer won
    USER_ALREADY_HOLDS = "USER_ALREADY_HOLDS"  # issued row exists: the user got it through another request
    CONFLICT = "CONFLICT"  # TransactionConflict: another transaction touched the same item
    THROTTLED = "THROTTLED"
    OTHER = "OTHER"


class WriteRejected(CouponError):
    """A transaction chunk was cancelled; earlier chunks of the same decision may have committed.

    The caller re-reads state and recomputes: every cause listed here is resolved by a fresh read.
    """

    def __init__(self, causes: list[CancelCause]) -> None:
        self.causes = causes
        super().__init__(f"transaction cancelled: {', '.join(sorted(set(causes))) or 'unknown'}")
