"""moto-backed table, fake Kafka publisher, and the two handlers wired to them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from coupons.dal.coupons_repo import CouponRepository
from coupons.dal.issuer_repo import IssuerRepository
from coupons.handlers import api, issuer
from coupons.logic.coupons import CouponService
from coupons.logic.issuer import IssuerService
from tests.unit.coupons.support import DLT_TOPIC, ISSUE_TOPIC, TABLE, FakePublisher

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("COUPONS_TABLE_NAME", TABLE)
    monkeypatch.setenv("COUPON_ISSUE_TOPIC", ISSUE_TOPIC)
    monkeypatch.setenv("COUPON_DLT_TOPIC", DLT_TOPIC)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "surge-test")


def create_table(client: DynamoDBClient, name: str = TABLE) -> None:
    """Same keys and GSI as CouponsTable in template.yaml."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": attr, "AttributeType": "S"} for attr in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@pytest.fixture
def ddb(aws_env: None) -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client)
        yield client


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def coupon_service(ddb: DynamoDBClient, publisher: FakePublisher) -> Iterator[CouponService]:
    service = CouponService(CouponRepository(ddb, TABLE), publisher, ISSUE_TOPIC)
    api.set_service(service)
    yield service
    api.set_service(None)


@pytest.fixture
def issuer_repo(ddb: DynamoDBClient) -> IssuerRepository:
    return IssuerRepository(ddb, TABLE)


@pytest.fixture
def issuer_service(issuer_repo: IssuerRepository, publisher: FakePublisher) -> Iterator[IssuerService]:
    service = IssuerService(issuer_repo, publisher, DLT_TOPIC, sleep=lambda _: None)
    issuer.set_service(service)
    yield service
    issuer.set_service(None)
