"""Builders and fakes shared by the coupon unit tests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.kafka_publisher import PublishError
from common.ports import Outgoing
from coupons.models.events import IssueRequested

TABLE = "test-coupons"
ISSUE_TOPIC = "coupon.issue-requested"
DLT_TOPIC = "coupon.issue-requested.dlt"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Published:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def json(self) -> Any:
        return json.loads(self.value)


@dataclass
class FakePublisher:
    """Records what would have been published; topics in `failing` raise PublishError, and so do
    aggregates (record keys) in `failing_keys`. `waves` holds the keys of each publish_all call."""

    sent: list[Published] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    failing_keys: set[bytes] = field(default_factory=set)
    waves: list[list[bytes | None]] = field(default_factory=list)

    def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> tuple[int, int]:
        if topic in self.failing or key in self.failing_keys:
            raise PublishError(f"broker unavailable for {topic}")
        self.sent.append(Published(topic, key, value, list(headers)))
        return 0, len(self.sent) - 1

    def publish_all(self, records: Sequence[Outgoing]) -> list[Exception | None]:
        self.waves.append([record.key for record in records])
        results: list[Exception | None] = []
        for record in records:
            try:
                self.publish(record.topic, record.key, record.value, record.headers)
                results.append(None)
            except PublishError as exc:
                results.append(exc)
        return results

    def on(self, topic: str) -> list[Published]:
        return [message for message in self.sent if message.topic == topic]


class ClientProxy:
    """Passes every call to the wrapped DynamoDB client; subclasses intercept what a test needs."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def FakeContext() -> LambdaContext:
    context = LambdaContext()
    context._function_name = "test-function"
    context._function_version = "$LATEST"
    context._memory_limit_in_mb = 512
    context._invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:test-function"
    context._aws_request_id = "00000000-0000-4000-8000-000000000000"
    return context


def issue(
    coupon_id: str, user_id: str, seconds: int = 0, request_id: uuid.UUID | None = None
) -> IssueRequested:
    return IssueRequested(
        requestId=request_id or uuid.uuid4(),
        couponId=coupon_id,
        userId=user_id,
        requestedAt=T0 + timedelta(seconds=seconds),
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kafka_record(
    value: bytes | None, key: bytes | None, partition: int, offset: int, topic: str = ISSUE_TOPIC
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": 1777636800000 + offset,
        "timestampType": "CREATE_TIME",
        "headers": [{"content-type": list(b"application/json")}],
    }
    if key is not None:
        record["key"] = b64(key)
    if value is not None:
        record["value"] = b64(value)
    return record


def partition_of(coupon_id: str, partitions: int = 4) -> int:
    return sum(coupon_id.encode()) % partitions


def kafka_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
    return {"eventSource": "SelfManagedKafka", "bootstrapServers": "127.0.0.1:9092", "records": grouped}


def event_for(requests: Sequence[IssueRequested], first_offset: int = 0) -> dict[str, Any]:
    """A batch keyed like the API publishes (key = couponId), offsets increasing per partition."""
    offsets: dict[int, int] = {}
    records = []
    for request in requests:
        partition = partition_of(request.couponId)
        offset = offsets.get(partition, first_offset)
        offsets[partition] = offset + 1
        records.append(
            kafka_record(request.model_dump_json().encode(), request.couponId.encode(), partition, offset)
        )
    return kafka_event(records)


def http_event(
    method: str, path: str, route: str, body: str | None = None, path_parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "api1234",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "req-0001",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "01/May/2026:12:00:00 +0000",
            "timeEpoch": 1777636800000,
        },
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = body
    return event
