"""OutboxConfirmFunction: its own consumer group on every event topic; each event read back marks
its outbox item PUBLISHED (the proof it is on Kafka)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import correlation
from common.dynamodb import dynamodb_client
from common.kafka_records import KafkaEvent, batch_response
from common.observability import logger, metrics, tracer
from common.outbox.confirmer import Confirmer
from common.outbox.settings import OutboxSettings
from common.outbox.store import OutboxStore
from common.types import utc_now

_confirmer: Confirmer | None = None


def get_confirmer() -> Confirmer:
    global _confirmer
    if _confirmer is None:
        config = OutboxSettings.from_env()
        store = OutboxStore(dynamodb_client(), config.table_name, timedelta(days=config.published_ttl_days))
        _confirmer = Confirmer(store)
    return _confirmer


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = KafkaEvent.model_validate(event)
    records = batch.iter_records()
    result = get_confirmer().process(batch, utc_now())
    metrics.add_metric("OutboxEventsConfirmed", MetricUnit.Count, result.confirmed)
    metrics.add_metric("OutboxEventsAlreadyConfirmed", MetricUnit.Count, result.already)
    logger.info(
        "confirm batch",
        extra={
            "records": len(records),
            "confirmed": result.confirmed,
            "already": result.already,
            "notOutbox": result.not_outbox,
            "failures": len(result.failures),
            "correlationIds": correlation.distinct(correlation.from_record(r) for r in records),
        },
    )
    return batch_response(result.failures)
