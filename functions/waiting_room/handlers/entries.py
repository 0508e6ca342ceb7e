"""QueueEntryFunction: SelfManagedKafka batches from queue.entry-requested -> positions.

Returns the Kafka partial batch response (ReportBatchItemFailures); positioning is idempotent, so the
redelivered neighbours of a failed record are no-ops.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import correlation
from common.dynamodb import dynamodb_client
from common.kafka_publisher import default_publisher
from common.kafka_records import KafkaEvent, batch_response
from common.observability import logger, metrics, tracer
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.logic.entry_service import EntryService
from waiting_room.settings import EntryConsumerSettings

_service: EntryService | None = None


def get_service() -> EntryService:
    global _service
    if _service is None:
        config = EntryConsumerSettings.from_env()
        _service = EntryService(
            EntryRepository(dynamodb_client(), config.table_name), default_publisher(), config.dlt_topic
        )
    return _service


def set_service(service: EntryService | None) -> None:
    global _service
    _service = service


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = KafkaEvent.model_validate(event)
    records = batch.iter_records()
    result = get_service().process(batch)
    metrics.add_metric("QueueEntriesReceived", MetricUnit.Count, len(records))
    metrics.add_metric("QueueEntriesPositioned", MetricUnit.Count, result.positioned)
    metrics.add_metric("QueueEntriesDuplicate", MetricUnit.Count, result.aliased)
    metrics.add_metric("QueueEntriesDeadLettered", MetricUnit.Count, result.dead_lettered)
    metrics.add_metric("BatchItemFailures", MetricUnit.Count, len(result.failures))
    metrics.add_metric("PositioningConflicts", MetricUnit.Count, result.conflicts)
    logger.info(
        "batch positioned",
        extra={
            "records": len(records),
            "correlationIds": correlation.distinct(correlation.from_record(r) for r in records),
            "positioned": result.positioned,
            "aliased": result.aliased,
            "alreadyDone": result.already_done,
            "deadLettered": result.dead_lettered,
            "failures": len(result.failures),
            "transactions": result.transactions,
        },
    )
    return batch_response(result.failures)
