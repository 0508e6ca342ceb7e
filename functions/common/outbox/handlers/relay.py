"""OutboxRelayFunction: DynamoDB Streams batches of outbox INSERTs (FilterCriteria), published to
Kafka with acks=all and the idempotent producer; ReportBatchItemFailures for what failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import correlation
from common.kafka_publisher import default_publisher
from common.observability import logger, metrics, tracer
from common.outbox.relay import Relay

_relay: Relay | None = None


def get_relay() -> Relay:
    global _relay
    if _relay is None:
        _relay = Relay(default_publisher())
    return _relay


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a DynamoDB Streams event: no Records list")
    result = get_relay().process(records)
    metrics.add_metric("OutboxEventsRelayed", MetricUnit.Count, result.published)
    metrics.add_metric("OutboxRelayFailures", MetricUnit.Count, 1 if result.failed_sequence else 0)
    logger.info(
        "relay batch",
        extra={
            "records": len(records),
            "published": result.published,
            "notOutbox": result.not_outbox,
            "failedSequence": result.failed_sequence,
            "correlationIds": correlation.distinct(result.correlation_ids),
        },
    )
    return result.batch_response()
