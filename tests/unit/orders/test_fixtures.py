"""Every fixture in events/orders/ runs through its handler (the files `sam local invoke -e` takes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orders.handlers import api, consumers, timeouts
from orders.logic.orders import order_event
from orders.models.api import Order, OrderLine, OrderStatus
from tests.unit.coupons.support import FakeContext, FakePublisher
from tests.unit.orders.conftest import COUPONS, ORDERS, OUTBOX, T0
from tests.unit.orders.test_saga import order, setup_shop

EVENTS = Path(__file__).resolve().parents[3] / "events" / "orders"
CONSUMER_FIXTURES = {
    "inventory_order_created.json": consumers.inventory_handler,
    "order_inventory_reserved.json": consumers.order_events_handler,
    "order_payment_completed.json": consumers.order_events_handler,
    "notification_payment_completed.json": consumers.notification_handler,
}
SCHEDULE_FIXTURES = {"payment_timeout_schedule.json"}
DATA_PLATFORM_FIXTURES = {"data_platform_order_completed.json"}  # test_data_platform.py


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http(name: str) -> tuple[int, dict[str, Any]]:
    response = api.lambda_handler(load(name), FakeContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def publisher(monkeypatch) -> FakePublisher:
    fake = FakePublisher()
    monkeypatch.setattr(consumers, "default_publisher", lambda: fake)
    return fake


def test_every_fixture_is_covered():
    api_fixtures = (
        {p.name for p in EVENTS.glob("*.json")}
        - set(CONSUMER_FIXTURES)
        - SCHEDULE_FIXTURES
        - DATA_PLATFORM_FIXTURES
    )
    assert all(load(name)["version"] == "2.0" for name in api_fixtures)
    assert len(api_fixtures) == 10


def test_fixtures_through_handlers(repository, service, publisher):
    assert http("create_product.json")[0] == 201
    assert http("get_product.json") == (200, {"productId": "p-0001", "name": "Mug", "price": 100, "stock": 5})
    assert http("top_up_points.json")[1]["balance"] == 1000
    assert http("get_points.json")[1]["balance"] == 1000
    status, placed = http("place_order.json")
    assert status == 201 and placed["total"] == 200
    # The o-0001 the other fixtures name, placed as the API would (its id is a uuid otherwise).
    known = Order(
        orderId="o-0001",
        userId="u-0001",
        status=OrderStatus.CREATED,
        items=[OrderLine(productId="p-0001", quantity=2)],
        total=200,
        createdAt="2026-12-01T12:00:00.000Z",
        updatedAt="2026-12-01T12:00:00.000Z",
    )
    repository.place_order(known, order_event("order.created", known, T0, "req-0001"))
    assert http("get_order.json")[1]["status"] == "CREATED"
    assert consumers.inventory_handler(load("inventory_order_created.json"), FakeContext()) == {
        "batchItemFailures": []
    }
    assert service.get_product("p-0001").stock == 3
    assert consumers.order_events_handler(load("order_inventory_reserved.json"), FakeContext()) == {
        "batchItemFailures": []
    }
    assert http("get_order.json")[1]["status"] == "RESERVED"
    assert http("pay_order.json")[1]["status"] == "PAID"
    for name in ("order_payment_completed.json", "notification_payment_completed.json"):
        assert CONSUMER_FIXTURES[name](load(name), FakeContext()) == {"batchItemFailures": []}
        assert CONSUMER_FIXTURES[name](load(name), FakeContext()) == {"batchItemFailures": []}  # redelivered
    assert http("get_order.json")[1]["status"] == "COMPLETED"
    assert len(http("list_notifications.json")[1]["items"]) == 1
    assert http("cancel_order.json")[0] == 409
    assert http("refund_order.json")[1]["status"] == "REFUNDED"
    assert service.get_points("u-0001").balance == 1000
    assert publisher.sent == []  # nothing dead-lettered


def test_a_poison_record_goes_to_its_topics_dlt(repository, publisher):
    batch = load("inventory_order_created.json")
    (record,) = batch["records"]["order.created-0"]
    record["value"] = "bm90IGpzb24="  # "not json"
    assert consumers.inventory_handler(batch, FakeContext()) == {"batchItemFailures": []}
    (dead,) = publisher.on("order.created.dlt")
    assert dead.json()["errorType"] == "InvalidJson"


def test_the_payment_timeout_schedule_fixture_cancels_an_expired_reservation(
    repository, service, saga, monkeypatch
):
    for name, value in {
        "PAYMENT_TIMEOUT_SECONDS": "60",
        "ORDERS_TABLE_NAME": ORDERS,
        "OUTBOX_TABLE_NAME": OUTBOX,
        "COUPONS_TABLE_NAME": COUPONS,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(timeouts, "_timeouts", None)
    setup_shop(service)
    placed = order(service, ("p-1", 1))
    saga.run()  # reserved at T0, long before now
    assert timeouts.lambda_handler(load("payment_timeout_schedule.json"), FakeContext()) == {
        "expired": 1,
        "cancelled": 1,
        "settledMeanwhile": 0,
    }
    assert service.get_order(placed.orderId).reason == "PAYMENT_TIMEOUT"
