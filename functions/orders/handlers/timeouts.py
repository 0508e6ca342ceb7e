"""OrderPaymentTimeoutFunction (Schedule, every minute): cancels reservations left unpaid too long."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.observability import logger, metrics, tracer
from common.types import utc_now
from orders.handlers.wiring import get_repository
from orders.logic.timeouts import PaymentTimeouts
from orders.settings import PaymentTimeoutSettings

_timeouts: PaymentTimeouts | None = None


def get_timeouts() -> PaymentTimeouts:
    global _timeouts
    if _timeouts is None:
        config = PaymentTimeoutSettings.from_env()
        _timeouts = PaymentTimeouts(
            get_repository(), timedelta(seconds=config.payment_timeout_seconds), config.limit
        )
    return _timeouts


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = get_timeouts().sweep(utc_now())
    metrics.add_metric("OrdersPaymentTimedOut", MetricUnit.Count, result.cancelled)
    summary = {
        "expired": result.expired,
        "cancelled": result.cancelled,
        "settledMeanwhile": result.settled_meanwhile,
    }
    logger.info("payment timeout sweep done", extra=summary)
    return summary
