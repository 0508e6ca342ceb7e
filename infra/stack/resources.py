"""Create what template.yaml declares: Kafka topics (Metadata.Surge.KafkaTopics) and DynamoDB tables."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from infra.stack.errors import StackError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from infra.template import TableSpec, TopicSpec


def ensure_topics(bootstrap_servers: str, topics: Iterable[TopicSpec], timeout: float = 60.0) -> list[str]:
    """Create missing topics and grow partition counts; returns the names created. Idempotent."""
    wanted = list(topics)
    if not wanted:
        return []
    admin = _admin(bootstrap_servers, timeout)
    try:
        existing = _partition_counts(admin, [t.name for t in wanted])
        created: list[str] = []
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            new = [
                NewTopic(t.name, t.partitions, 1, topic_configs={k: str(v) for k, v in t.config.items()})
                for t in missing
            ]
            # Another process may create them meanwhile; the wait below confirms the result either way.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, timeout_ms=int(timeout * 1000))
            created = [t.name for t in missing]
        grow = {
            t.name: NewPartitions(t.partitions)
            for t in wanted
            if existing.get(t.name, t.partitions) < t.partitions
        }
        if grow:
            admin.create_partitions(grow)
        _wait_for_topics(admin, wanted, timeout)
        return created
    finally:
        admin.close()


def existing_topics(bootstrap_servers: str, timeout: float = 30.0) -> set[str]:
    admin = _admin(bootstrap_servers, timeout)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def _admin(bootstrap_servers: str, timeout: float) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise StackError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
            time.sleep(0.5)


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    present = set(admin.list_topics())
    counts: dict[str, int] = {}
    for description in admin.describe_topics([n for n in names if n in present]):
        counts[description["name"]] = len(description["partitions"])
    return counts


def _wait_for_topics(admin: KafkaAdminClient, topics: list[TopicSpec], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = _partition_counts(admin, [t.name for t in topics])
        if all(counts.get(t.name, 0) >= t.partitions for t in topics):
            return
        if time.monotonic() > deadline:
            raise StackError(f"topics not ready after {timeout:.0f}s: {counts}")
        time.sleep(0.2)


def ensure_tables(client: DynamoDBClient, tables: Iterable[TableSpec]) -> list[str]:
    """Create missing tables (with GSIs, streams and TTL); returns the names created. Idempotent."""
    created: list[str] = []
    for table in tables:
        try:
            client.describe_table(TableName=table.table_name)
        except client.exceptions.ResourceNotFoundException:
            kwargs: dict[str, Any] = table.create_table_kwargs()
            try:
                client.create_table(**kwargs)
                created.append(table.table_name)
            except client.exceptions.ResourceInUseException:
                pass
        client.get_waiter("table_exists").wait(
            TableName=table.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        if table.ttl_attribute:
            ttl = client.describe_time_to_live(TableName=table.table_name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=table.table_name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
    return created


def table_stream_arns(client: DynamoDBClient, tables: Iterable[TableSpec]) -> dict[str, str]:
    """Logical id -> the table's current stream ARN, for tables with a stream."""
    arns: dict[str, str] = {}
    for table in tables:
        if table.stream_view_type:
            arn = client.describe_table(TableName=table.table_name)["Table"].get("LatestStreamArn")
            if arn:
                arns[table.logical_id] = arn
    return arns
