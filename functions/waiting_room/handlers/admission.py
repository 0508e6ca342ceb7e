"""QueueAdmissionFunction: fired once a minute, it takes every admission step due in that minute."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.dynamodb import dynamodb_client
from common.observability import logger, metrics, tracer
from waiting_room.dal.concerts_repo import ConcertRepository
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.logic.admitter import Admitter
from waiting_room.settings import AdmissionSettings

SAFETY_MARGIN_S = 5.0  # stop this long before the function's timeout

_admitter: Admitter | None = None


def get_admitter() -> tuple[Admitter, AdmissionSettings]:
    global _admitter
    config = AdmissionSettings.from_env()
    if _admitter is None:
        client = dynamodb_client()
        _admitter = Admitter(
            ConcertRepository(client, config.table_name), EntryRepository(client, config.table_name)
        )
    return _admitter, config


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    admitter, config = get_admitter()
    seconds = min(config.run_seconds, context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S)
    totals = admitter.run(max(seconds, 0.0))
    metrics.add_metric("QueueAdmitted", MetricUnit.Count, totals["admitted"])
    metrics.add_metric("QueueAbandoned", MetricUnit.Count, totals["abandoned"])
    metrics.add_metric("AdmissionSteps", MetricUnit.Count, totals["steps"])
    logger.info("admission run", extra=totals)
    return totals
