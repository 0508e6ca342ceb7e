"""Typed, resolved specs the local runtime consumes (no intrinsics left in any of them)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from infra.template.auth import RouteAuth

KafkaSourceKind = Literal["SelfManagedKafka", "MSK"]
KafkaStartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
StreamStartingPosition = Literal["TRIM_HORIZON", "LATEST"]
ApiKind = Literal["HttpApi", "Api"]


@dataclass(frozen=True)
class KafkaEventSpec:
    """A SelfManagedKafka or MSK event: one Lambda event source mapping on one topic."""

    name: str
    function_logical_id: str
    source_kind: KafkaSourceKind
    topic: str
    bootstrap_servers: str
    starting_position: KafkaStartingPosition
    event_source_arn: str | None = None
    consumer_group_id: str | None = None
    starting_position_timestamp: float | None = None
    batch_size: int = 100
    batching_window_seconds: float = 0.5
    enabled: bool = True
    filter_patterns: list[dict[str, Any]] = field(default_factory=list)
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect_on_error: bool = False
    on_failure_destination: str | None = None
    provisioned_pollers: tuple[int, int] | None = None
    # Without ConsumerGroupId: the group this mapping uses, unique per stack (see loader.py).
    default_group_id: str | None = None


@dataclass(frozen=True)
class DynamoDBEventSpec:
    """A DynamoDB Streams event source mapping."""

    name: str
    function_logical_id: str
    stream: str
    starting_position: StreamStartingPosition
    table_logical_id: str | None = None
    batch_size: int = 100
    batching_window_seconds: float = 0
    enabled: bool = True
    filter_patterns: list[dict[str, Any]] = field(default_factory=list)
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect_on_error: bool = False
    on_failure_destination: str | None = None
    parallelization_factor: int = 1


@dataclass(frozen=True)
class ScheduleEventSpec:
    """A Schedule (EventBridge rule) or ScheduleV2 (EventBridge Scheduler) event."""

    name: str
    function_logical_id: str
    expression: str
    enabled: bool = True
    input: str | None = None


@dataclass(frozen=True)
class HttpApiEventSpec:
    """An HttpApi or Api (REST) route; HttpApi without properties is the `$default` catch-all route."""

    name: str
    function_logical_id: str
    api_kind: ApiKind
    method: str
    path: str
    auth: RouteAuth | None = None  # None: an open route (see auth.py)


EventSpec = KafkaEventSpec | DynamoDBEventSpec | ScheduleEventSpec | HttpApiEventSpec


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    function_name: str
    handler: str
    code_dir: Path
    runtime: str
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    provisioned_concurrency: int = 0  # ProvisionedConcurrencyConfig: environments kept initialized
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions: at most this many at once
    layers: list[Path] = field(default_factory=list)  # content folders of the template's layers, in order
    external_layers: list[str] = field(default_factory=list)  # layer ARNs from outside the template


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    table_name: str
    arn: str
    stream_view_type: str | None
    ttl_attribute: str | None
    # CreateTable arguments without TableName (see create_table_kwargs).
    create_table_arguments: dict[str, Any] = field(default_factory=dict, repr=False)

    def create_table_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for boto3 `client.create_table(**kwargs)`; a fresh copy each call."""
        return {"TableName": self.table_name, **copy.deepcopy(self.create_table_arguments)}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    config: dict[str, str] = field(default_factory=dict)
