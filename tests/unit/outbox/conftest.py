"""moto-backed outbox table (created from template.yaml's OutboxTable, so keys and index match)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from common.outbox.store import OutboxStore
from infra.template import load_template
from tests.conftest import TEMPLATE
from tests.unit.coupons.support import FakePublisher

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OUTBOX = "test-outbox"


def create_from_template(client: DynamoDBClient, logical_id: str, name: str) -> None:
    spec = load_template(TEMPLATE).tables[logical_id]
    kwargs: dict[str, Any] = spec.create_table_kwargs()
    kwargs["TableName"] = name
    kwargs.pop("StreamSpecification", None)
    client.create_table(**kwargs)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "surge-test")


@pytest.fixture
def ddb(aws_env: None) -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_from_template(client, "OutboxTable", OUTBOX)
        yield client


@pytest.fixture
def store(ddb: DynamoDBClient) -> OutboxStore:
    return OutboxStore(ddb, OUTBOX, timedelta(days=7))


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()
