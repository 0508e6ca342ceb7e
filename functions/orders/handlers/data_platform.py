"""DataPlatformFunction: Kafka batches of order.completed, each sent to the data platform once or
more (Idempotency-Key = eventId); what the platform could not take is retried by the event source."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import correlation
from common.kafka_publisher import default_publisher
from common.kafka_records import KafkaEvent, batch_response
from common.observability import logger, metrics, tracer
from common.types import utc_now
from orders.clients.data_platform import HttpDataPlatform
from orders.logic.data_platform import Forwarder, RetryBudget
from orders.settings import DataPlatformSettings

_forwarder: Forwarder | None = None


def get_forwarder() -> Forwarder:
    global _forwarder
    if _forwarder is None:
        config = DataPlatformSettings.from_env()
        _forwarder = Forwarder(
            HttpDataPlatform(config.url, config.timeout_seconds),
            RetryBudget(budget_s=config.retry_budget_seconds),
        )
    return _forwarder


def set_forwarder(forwarder: Forwarder | None) -> None:
    """Tests inject a forwarder with a fake platform."""
    global _forwarder
    _forwarder = forwarder


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = KafkaEvent.model_validate(event)
    records = batch.iter_records()
    result = get_forwarder().forward(batch, default_publisher(), utc_now())
    metrics.add_metric("DataPlatformDelivered", MetricUnit.Count, result.delivered)
    metrics.add_metric("DataPlatformRetries", MetricUnit.Count, result.retries)
    metrics.add_metric("RecordsDeadLettered", MetricUnit.Count, result.dead_lettered)
    metrics.add_metric("BatchItemFailures", MetricUnit.Count, len(result.failures))
    logger.info(
        "batch forwarded",
        extra={
            "records": len(records),
            "delivered": result.delivered,
            "retries": result.retries,
            "deadLettered": result.dead_lettered,
            "failures": len(result.failures),
            "lastError": result.last_error,
            "correlationIds": correlation.distinct(correlation.from_record(r) for r in records),
        },
    )
    return batch_response(result.failures)
