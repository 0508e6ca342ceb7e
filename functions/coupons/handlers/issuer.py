"""CouponIssuerFunction: SelfManagedKafka batches from coupon.issue-requested.

Returns the Kafka partial batch response (ReportBatchItemFailures): the ESM commits up to the lowest
failed offset of each partition and redelivers from there; the issuer is idempotent, so the
redelivered neighbours are no-ops.
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
from coupons.dal.issuer_repo import IssuerRepository
from coupons.logic.issuer import BatchResult, IssuerService
from coupons.settings import IssuerSettings

_service: IssuerService | None = None


def get_service() -> IssuerService:
    global _service
    if _service is None:
        config = IssuerSettings.from_env()
        repository = IssuerRepository(dynamodb_client(), config.table_name)
        _service = IssuerService(repository, default_publisher(), config.dlt_topic)
    return _service


def set_service(service: IssuerService | None) -> None:
    global _service
    _service = service


def _emit_metrics(result: BatchResult, records: int) -> None:
    metrics.add_metric("IssueRequestsReceived", MetricUnit.Count, records)
    metrics.add_metric("CouponsIssued", MetricUnit.Count, result.issued)
    for reason, count in result.rejected.items():
        metrics.add_metric(f"IssueRejected{reason.title().replace('_', '')}", MetricUnit.Count, count)
    metrics.add_metric("IssueRequestsAlreadyDecided", MetricUnit.Count, result.already_decided)
    metrics.add_metric("RecordsDeadLettered", MetricUnit.Count, result.dead_lettered)
    metrics.add_metric("BatchItemFailures", MetricUnit.Count, len(result.failures))
    metrics.add_metric("AllocationWriteRetries", MetricUnit.Count, result.write_retries)
    metrics.add_metric("Transactions", MetricUnit.Count, result.transactions)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A malformed envelope (not records of a Kafka event) raises: the whole batch is retried, as it should.
    batch = KafkaEvent.model_validate(event)
    records = batch.iter_records()
    result = get_service().process(batch)
    _emit_metrics(result, len(records))
    logger.info(
        "batch processed",
        extra={
            "records": len(records),
            "correlationIds": correlation.distinct(correlation.from_record(r) for r in records),
            "issued": result.issued,
            "rejected": dict(result.rejected),
            "alreadyDecided": result.already_decided,
            "deadLettered": result.dead_lettered,
            "failures": len(result.failures),
            "transactions": result.transactions,
        },
    )
    return batch_response(result.failures)
