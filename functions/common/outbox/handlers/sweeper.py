"""OutboxSweeperFunction (Schedule, every minute): republishes stale PENDING outbox items."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.dynamodb import dynamodb_client
from common.kafka_publisher import default_publisher
from common.observability import logger, metrics, tracer
from common.outbox.settings import SweeperSettings
from common.outbox.store import OutboxStore
from common.outbox.sweeper import Sweeper, SweepPolicy
from common.types import utc_now

_sweeper: Sweeper | None = None


def get_sweeper() -> Sweeper:
    global _sweeper
    if _sweeper is None:
        config = SweeperSettings.from_env()
        store = OutboxStore(dynamodb_client(), config.table_name, timedelta(days=config.published_ttl_days))
        policy = SweepPolicy(
            stale_after=timedelta(seconds=config.stale_seconds),
            lease=timedelta(seconds=config.lease_seconds),
            alert_attempts=config.alert_attempts,
            alert_topic=config.alert_topic,
            limit=config.limit,
        )
        _sweeper = Sweeper(store, default_publisher(), policy)
    return _sweeper


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = get_sweeper().sweep(utc_now())
    metrics.add_metric("OutboxStaleEvents", MetricUnit.Count, result.stale)
    metrics.add_metric("OutboxStuckEvents", MetricUnit.Count, len(result.stuck))
    metrics.add_metric("OutboxRepublished", MetricUnit.Count, result.republished)
    summary = {
        "stale": result.stale,
        "republished": result.republished,
        "claimedElsewhere": result.claimed_elsewhere,
        "failed": result.failed,
        "stuck": result.stuck[:20],
    }
    logger.info("sweep done", extra=summary)
    return summary
