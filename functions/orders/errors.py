"""What the orders service refuses, mapped to HTTP statuses by the API handler."""

from __future__ import annotations


class OrderError(Exception):
    status = 400
    reason = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class NotFound(OrderError):
    status = 404
    reason = "NOT_FOUND"


class InsufficientPoints(OrderError):
    status = 402
    reason = "INSUFFICIENT_POINTS"


class WrongStatus(OrderError):
    status = 409
    reason = "WRONG_STATUS"


class CouponNotUsable(OrderError):
    status = 409
    reason = "COUPON_NOT_USABLE"


class AlreadyExists(OrderError):
    status = 409
    reason = "ALREADY_EXISTS"
