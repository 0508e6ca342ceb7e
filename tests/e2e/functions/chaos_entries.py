"""The real entry consumer, made to fail at random right after a positioning transaction went through:
sometimes the worker dies on the spot (a crash mid-batch), sometimes the handler raises."""

from __future__ import annotations

import os
import random
from typing import Any

from common.dynamodb import dynamodb_client
from common.kafka_publisher import default_publisher
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.handlers import entries
from waiting_room.logic.entry_service import EntryService
from waiting_room.settings import EntryConsumerSettings

CRASH_RATE = float(os.environ.get("CHAOS_CRASH_RATE", "0.1"))
RAISE_RATE = float(os.environ.get("CHAOS_RAISE_RATE", "0.2"))


class ChaosClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **request: Any) -> Any:
        response = self._client.transact_write_items(**request)
        roll = random.random()
        if roll < CRASH_RATE:
            os._exit(17)
        if roll < CRASH_RATE + RAISE_RATE:
            raise RuntimeError("chaos: failing after a committed positioning transaction")
        return response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if entries._service is None:
        config = EntryConsumerSettings.from_env()
        repository = EntryRepository(ChaosClient(dynamodb_client()), config.table_name)  # type: ignore[arg-type]
        entries.set_service(EntryService(repository, default_publisher(), config.dlt_topic))
    return entries.lambda_handler(event, context)
