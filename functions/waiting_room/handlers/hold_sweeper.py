"""SeatHoldSweeperFunction: every minute, tidy the holds that expired (seat and slot freed, hold EXPIRED).

Nothing waits for it: every hold condition treats an expired hold as free already. It keeps seat items
and availability listings clean and takes finished holds out of the expiry index.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.dynamodb import dynamodb_client
from common.observability import logger, metrics, tracer
from waiting_room.dal.seats_repo import SeatRepository
from waiting_room.logic.holds import HoldSweeper
from waiting_room.seat_settings import HoldSweeperSettings

_sweeper: HoldSweeper | None = None


def get_sweeper() -> HoldSweeper:
    global _sweeper
    if _sweeper is None:
        settings = HoldSweeperSettings.from_env()
        _sweeper = HoldSweeper(SeatRepository(dynamodb_client(), settings.table_name))
    return _sweeper


def set_sweeper(sweeper: HoldSweeper | None) -> None:
    """Tests inject a sweeper wired to moto and a fixed clock."""
    global _sweeper
    _sweeper = sweeper


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Any event works (the schedule's, or `surge invoke` with the fixture); it only says "now".
    result = get_sweeper().sweep(lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric("SeatHoldsExpired", MetricUnit.Count, result.expired)
    logger.info("holds swept", extra={"expired": result.expired, "finished": result.finished})
    return {"expired": result.expired, "finished": result.finished}
