"""InventoryFunction, OrderEventsFunction, NotificationFunction: Kafka batches of outbox events,
each applied once (inbox), poison records to `<topic>.dlt`, the rest retried (ReportBatchItemFailures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import correlation
from common.kafka_publisher import default_publisher
from common.kafka_records import KafkaEvent, batch_response
from common.observability import logger, metrics, tracer
from common.outbox.consumer import Handler, consume
from common.types import utc_now
from orders.handlers.wiring import get_repository
from orders.logic.consumers import InventoryConsumer, NotificationConsumer, OrderEventsConsumer


def _run(event: dict[str, Any], consumer: str, handle: Handler) -> dict[str, Any]:
    batch = KafkaEvent.model_validate(event)
    records = batch.iter_records()
    result = consume(batch, handle, default_publisher(), utc_now())
    for effect, count in result.effects.items():
        metrics.add_metric(f"Events{effect.title().replace('_', '')}", MetricUnit.Count, count)
    metrics.add_metric("RecordsDeadLettered", MetricUnit.Count, result.dead_lettered)
    metrics.add_metric("BatchItemFailures", MetricUnit.Count, len(result.failures))
    logger.info(
        "batch processed",
        extra={
            "consumer": consumer,
            "records": len(records),
            "effects": dict(result.effects),
            "deadLettered": result.dead_lettered,
            "failures": len(result.failures),
            "correlationIds": correlation.distinct(correlation.from_record(r) for r in records),
        },
    )
    return batch_response(result.failures)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def inventory_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _run(event, "inventory", InventoryConsumer(get_repository()).handle)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def order_events_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _run(event, "order", OrderEventsConsumer(get_repository()).handle)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def notification_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _run(event, "notification", NotificationConsumer(get_repository()).handle)
