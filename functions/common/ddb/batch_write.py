"""BatchWriteItem over any number of puts: chunks of 25, UnprocessedItems retried with backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from common.ddb.attrs import Attrs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

MAX_ITEMS_PER_CALL = 25
MAX_UNPROCESSED_ROUNDS = 10


class UnprocessedItemsError(Exception):
    """DynamoDB kept returning UnprocessedItems (sustained throttling)."""


def batch_put(
    client: DynamoDBClient,
    table_name: str,
    items: Sequence[Attrs],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Put every item (unconditionally; keys must be distinct); return the number of calls made."""
    calls = 0
    for start in range(0, len(items), MAX_ITEMS_PER_CALL):
        pending: list[WriteRequestTypeDef] = [
            {"PutRequest": {"Item": item}} for item in items[start : start + MAX_ITEMS_PER_CALL]
        ]
        for round_ in range(MAX_UNPROCESSED_ROUNDS):
            calls += 1
            response = client.batch_write_item(RequestItems={table_name: pending})
            unprocessed = (response.get("UnprocessedItems") or {}).get(table_name, [])
            pending = cast("list[WriteRequestTypeDef]", list(unprocessed))
            if not pending:
                break
            sleep(random.uniform(0, min(0.02 * 2**round_, 1.0)))
        else:
            raise UnprocessedItemsError(
                f"{table_name}: {len(pending)} items still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds"
            )
    return calls
