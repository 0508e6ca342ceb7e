"""moto tables from template.yaml (orders, outbox, coupons) and a saga driver that plays the relay:
it hands every new outbox event to the consumers of its topic, as Kafka would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from common.outbox.envelope import EventEnvelope
from common.outbox.items import event_from_item
from orders.dal.orders_repo import OrdersRepository
from orders.handlers.wiring import set_repository
from orders.logic.consumers import InventoryConsumer, NotificationConsumer, OrderEventsConsumer
from orders.logic.orders import OrderService
from tests.unit.outbox.conftest import aws_env, create_from_template  # noqa: F401 (aws_env: autouse fixture)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ORDERS, OUTBOX, COUPONS = "test-orders", "test-outbox", "test-coupons"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ddb() -> Iterator[DynamoDBClient]:  # after the autouse aws_env
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for logical, name in (("OrdersTable", ORDERS), ("OutboxTable", OUTBOX), ("CouponsTable", COUPONS)):
            create_from_template(client, logical, name)
        yield client


@pytest.fixture
def repository(ddb: DynamoDBClient) -> Iterator[OrdersRepository]:
    repo = OrdersRepository(ddb, ORDERS, OUTBOX, COUPONS)
    set_repository(repo)
    yield repo
    set_repository(None)


@pytest.fixture
def service(repository: OrdersRepository) -> OrderService:
    return OrderService(repository)


class Saga:
    """Delivers outbox events to their consumers (`copies` times each, to play redeliveries)."""

    def __init__(self, ddb: DynamoDBClient, repository: OrdersRepository) -> None:
        self.ddb = ddb
        self.delivered: list[EventEnvelope] = []
        self._seen: set[str] = set()
        inventory, order, notification = (
            InventoryConsumer(repository),
            OrderEventsConsumer(repository),
            NotificationConsumer(repository),
        )
        self.routes: dict[str, list[Any]] = {
            "order.created": [inventory],
            "order.cancelled": [inventory],
            "payment.refunded": [inventory],
            "inventory.reserved": [order],
            "inventory.rejected": [order],
            "payment.completed": [order, notification],
            "order.completed": [],
        }

    def events(self) -> list[EventEnvelope]:
        items = self.ddb.scan(TableName=OUTBOX)["Items"]
        found = [event_from_item(i) for i in items if i.get("entity") == {"S": "OUTBOX"}]
        return sorted((e.envelope for e in found), key=lambda e: e.occurredAt)

    def run(self, copies: int = 1) -> list[str]:
        while True:
            fresh = [e for e in self.events() if e.eventId not in self._seen]
            if not fresh:
                return [e.eventType for e in self.delivered]
            for envelope in fresh:
                self._seen.add(envelope.eventId)
                self.delivered.append(envelope)
                for _ in range(copies):
                    for consumer in self.routes[envelope.eventType]:
                        consumer.handle(envelope, "corr-1", T0)

    def replay_all(self) -> None:
        """Every event delivered again (a sweeper republishing what the relay sent)."""
        for envelope in list(self.delivered):
            for consumer in self.routes[envelope.eventType]:
                consumer.handle(envelope, "corr-1", T0)


@pytest.fixture
def saga(ddb: DynamoDBClient, repository: OrdersRepository) -> Saga:
    return Saga(ddb, repository)
