"""BatchGetItem over any number of keys: chunks of 100, consistent reads, UnprocessedKeys retried."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from common.ddb.attrs import Attrs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

MAX_KEYS_PER_CALL = 100
MAX_UNPROCESSED_ROUNDS = 10


class UnprocessedKeysError(Exception):
    """DynamoDB kept returning UnprocessedKeys (sustained throttling)."""


def projection_expression(attributes: Sequence[str]) -> tuple[str, dict[str, str]]:
    """ProjectionExpression and its ExpressionAttributeNames (placeholders: some names are reserved)."""
    names = {f"#p{i}": name for i, name in enumerate(attributes)}
    return ", ".join(names), names


def batch_get(
    client: DynamoDBClient,
    table_name: str,
    keys: Sequence[Attrs],
    *,
    projection: Sequence[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """All items that exist among `keys` (order not preserved; duplicate keys must not be passed)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), MAX_KEYS_PER_CALL):
        request: KeysAndAttributesTypeDef = {
            "Keys": list(keys[start : start + MAX_KEYS_PER_CALL]),
            "ConsistentRead": True,
        }
        if projection:
            expression, names = projection_expression(projection)
            request["ProjectionExpression"] = expression
            request["ExpressionAttributeNames"] = names
        found.extend(_get_chunk(client, table_name, request, sleep))
    return found


def _get_chunk(
    client: DynamoDBClient,
    table_name: str,
    request: KeysAndAttributesTypeDef,
    sleep: Callable[[float], None],
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pending: dict[str, KeysAndAttributesTypeDef] = {table_name: request}
    for round_ in range(MAX_UNPROCESSED_ROUNDS):
        response = client.batch_get_item(RequestItems=pending)
        found.extend(response.get("Responses", {}).get(table_name, []))
        retry = (response.get("UnprocessedKeys") or {}).get(table_name)
        if not retry or not retry.get("Keys"):
            return found
        pending = {table_name: {**request, "Keys": retry["Keys"]}}
        sleep(random.uniform(0, min(0.02 * 2**round_, 1.0)))
    raise UnprocessedKeysError(f"{table_name}: keys still unprocessed after {MAX_UNPROCESSED_ROUNDS} rounds")
