"""The real coupon issuer, made to fail at random right after a write went through (an issue
transaction or a batch of outcome puts): sometimes the worker dies on the spot (a crash mid-batch),
sometimes the handler raises (a failed invocation). Either way some of the batch is written and the
rest is not, and the batch comes back."""

from __future__ import annotations

import os
import random
from typing import Any

from common.dynamodb import dynamodb_client
from common.kafka_publisher import default_publisher
from coupons.dal.issuer_repo import IssuerRepository
from coupons.handlers import issuer
from coupons.logic.issuer import IssuerService
from coupons.settings import IssuerSettings

CRASH_RATE = float(os.environ.get("CHAOS_CRASH_RATE", "0.1"))
RAISE_RATE = float(os.environ.get("CHAOS_RAISE_RATE", "0.2"))


def _maybe_fail() -> None:
    roll = random.random()
    if roll < CRASH_RATE:
        os._exit(17)
    if roll < CRASH_RATE + RAISE_RATE:
        raise RuntimeError("chaos: failing after a committed write")


class ChaosClient:
    """The DynamoDB client, failing at random after each write call succeeded."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **request: Any) -> Any:
        response = self._client.transact_write_items(**request)
        _maybe_fail()
        return response

    def batch_write_item(self, **request: Any) -> Any:
        response = self._client.batch_write_item(**request)
        _maybe_fail()
        return response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if issuer._service is None:
        config = IssuerSettings.from_env()
        repository = IssuerRepository(ChaosClient(dynamodb_client()), config.table_name)  # type: ignore[arg-type]
        issuer.set_service(IssuerService(repository, default_publisher(), config.dlt_topic))
    return issuer.lambda_handler(event, context)
