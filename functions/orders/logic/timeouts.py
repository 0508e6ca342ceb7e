"""Payment timeouts: a RESERVED order unpaid for `timeout` is cancelled (PAYMENT_TIMEOUT), which
emits order.cancelled and so gives its stock back. A payment racing the sweep wins or loses whole:
both are conditional on the order still being RESERVED."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from common.observability import logger
from orders.errors import NotFound, WrongStatus
from orders.logic.orders import PAYMENT_TIMEOUT, OrderService

if TYPE_CHECKING:
    from orders.dal.orders_repo import OrdersRepository


@dataclass(frozen=True)
class TimeoutSweep:
    expired: int  # reservations older than the timeout the index listed
    cancelled: int
    settled_meanwhile: int  # paid or cancelled between the index read and the cancel


class PaymentTimeouts:
    def __init__(self, repository: OrdersRepository, timeout: timedelta, limit: int) -> None:
        self.repository = repository
        self.service = OrderService(repository)
        self.timeout = timeout
        self.limit = limit

    def sweep(self, now: datetime) -> TimeoutSweep:
        expired = self.repository.awaiting_payment_since_before(now - self.timeout, self.limit)
        cancelled = settled = 0
        for order_id in expired:
            # A schedule has no request to take a correlation id from: one per cancelled order.
            try:
                self.service.cancel(order_id, now, f"timeout-{order_id}", reason=PAYMENT_TIMEOUT)
            except (NotFound, WrongStatus):
                settled += 1  # paid or cancelled since the index was read (it lags the table too)
                continue
            cancelled += 1
            logger.info("payment timed out: order cancelled", extra={"orderId": order_id})
        return TimeoutSweep(len(expired), cancelled, settled)
