"""The orders saga on moto: every invariant is a DynamoDB condition, and each test here fails when
its condition is removed (stock >= q, balance >= total, status guards, the inbox)."""

from __future__ import annotations

import json

import pytest

from common.outbox.items import PENDING
from orders.errors import CouponNotUsable, InsufficientPoints, NotFound, WrongStatus
from orders.handlers import api
from orders.models.api import CreateOrderRequest, CreateProductRequest, OrderLine, OrderStatus
from tests.unit.coupons.support import FakeContext, http_event
from tests.unit.orders.conftest import COUPONS, ORDERS, T0


def setup_shop(service, stock: int = 5, price: int = 100, points: int = 1000, user: str = "u-1") -> None:
    service.create_product(CreateProductRequest(productId="p-1", name="Mug", price=price, stock=stock))
    service.create_product(CreateProductRequest(productId="p-2", name="Tee", price=50, stock=stock))
    service.top_up(user, points)


def order(service, *lines: tuple[str, int], user: str = "u-1", coupon: str | None = None):
    request = CreateOrderRequest(
        userId=user, items=[OrderLine(productId=p, quantity=q) for p, q in lines], couponId=coupon
    )
    return service.place_order(request, T0, "corr-1")


def payments(ddb) -> list[dict]:
    return [i for i in ddb.scan(TableName=ORDERS)["Items"] if i.get("entity") == {"S": "PAYMENT"}]


def test_a_paid_order_completes_with_one_notification(service, saga, ddb):
    setup_shop(service)
    placed = order(service, ("p-1", 2), ("p-2", 1))
    assert placed.total == 250 and placed.status is OrderStatus.CREATED
    assert saga.run() == ["order.created", "inventory.reserved"]
    assert service.get_order(placed.orderId).status is OrderStatus.RESERVED
    service.pay(placed.orderId, T0, "corr-1")
    saga.run()
    assert [e.eventType for e in saga.delivered][2:] == ["payment.completed", "order.completed"]
    assert service.get_order(placed.orderId).status is OrderStatus.COMPLETED
    assert service.get_product("p-1").stock == 3 and service.get_product("p-2").stock == 4
    assert service.get_points("u-1").balance == 750
    assert len(service.notifications("u-1")) == 1
    assert all(e.aggregateId == placed.orderId for e in saga.delivered)


def test_duplicate_deliveries_change_nothing_twice(service, saga):
    setup_shop(service)
    placed = order(service, ("p-1", 2))
    saga.run(copies=3)
    service.pay(placed.orderId, T0, None)
    saga.run(copies=3)
    saga.replay_all()  # the sweeper republishing everything the relay already sent
    assert service.get_product("p-1").stock == 3
    assert service.get_points("u-1").balance == 800
    assert len(service.notifications("u-1")) == 1
    assert service.get_order(placed.orderId).status is OrderStatus.COMPLETED


def test_a_line_without_stock_rejects_the_order_and_decrements_nothing(service, saga):
    setup_shop(service, stock=2)
    placed = order(service, ("p-2", 1), ("p-1", 3))
    saga.run()
    assert [e.eventType for e in saga.delivered] == ["order.created", "inventory.rejected"]
    got = service.get_order(placed.orderId)
    assert (got.status, got.reason) == (OrderStatus.CANCELLED, "OUT_OF_STOCK")
    assert service.get_product("p-1").stock == 2 and service.get_product("p-2").stock == 2


def test_stock_never_goes_negative(service, saga):
    setup_shop(service, stock=3, points=10_000)
    placed = [order(service, ("p-1", 1)) for _ in range(5)]
    saga.run(copies=2)
    statuses = [service.get_order(o.orderId).status for o in placed]
    assert statuses.count(OrderStatus.RESERVED) == 3 and statuses.count(OrderStatus.CANCELLED) == 2
    assert service.get_product("p-1").stock == 0


def test_a_payment_the_points_do_not_cover_changes_nothing(service, saga, ddb):
    setup_shop(service, points=100)
    placed = order(service, ("p-1", 2))
    saga.run()
    events_before = len(saga.events())
    with pytest.raises(InsufficientPoints):
        service.pay(placed.orderId, T0, None)
    assert payments(ddb) == []
    assert service.get_order(placed.orderId).status is OrderStatus.RESERVED
    assert service.get_points("u-1").balance == 100
    assert len(saga.events()) == events_before  # no payment.completed


def test_payment_needs_a_reserved_order_and_happens_once(service, saga, ddb):
    setup_shop(service)
    placed = order(service, ("p-1", 1))
    with pytest.raises(WrongStatus):
        service.pay(placed.orderId, T0, None)  # CREATED: stock not reserved yet
    saga.run()
    service.pay(placed.orderId, T0, None)
    with pytest.raises(WrongStatus):
        service.pay(placed.orderId, T0, None)
    assert len(payments(ddb)) == 1 and service.get_points("u-1").balance == 900
    with pytest.raises(NotFound):
        service.pay("nope", T0, None)


def test_a_payment_whose_condition_fails_late_leaves_everything_as_it_was(service, saga, ddb, repository):
    """The order is RESERVED when read but paid by someone else before the transaction: the
    transaction's own condition refuses it (the read-time check alone would pay twice)."""
    setup_shop(service)
    placed = order(service, ("p-1", 1))
    saga.run()
    stale = service.get_order(placed.orderId)
    service.pay(placed.orderId, T0, None)
    from orders.logic.orders import order_event

    with pytest.raises(WrongStatus):
        repository.pay(stale, order_event("payment.completed", stale, T0, None), T0)
    assert len(payments(ddb)) == 1 and service.get_points("u-1").balance == 900
    completed = [e for e in saga.events() if e.eventType == "payment.completed"]
    assert len(completed) == 1


def test_a_coupon_is_used_once_and_only_by_its_holder(service, saga, ddb):
    setup_shop(service)
    service.top_up("u-2", 1000)
    ddb.put_item(
        TableName=COUPONS,
        Item={
            "pk": {"S": "COUPON#c-1"},
            "sk": {"S": "USER#u-1"},
            "couponId": {"S": "c-1"},
            "userId": {"S": "u-1"},
        },
    )
    first = order(service, ("p-1", 1), coupon="c-1")
    second = order(service, ("p-1", 1), coupon="c-1")
    stranger = order(service, ("p-1", 1), user="u-2", coupon="c-1")
    saga.run()
    service.pay(first.orderId, T0, None)
    with pytest.raises(CouponNotUsable):
        service.pay(second.orderId, T0, None)
    with pytest.raises(CouponNotUsable):
        service.pay(stranger.orderId, T0, None)
    coupon = ddb.get_item(TableName=COUPONS, Key={"pk": {"S": "COUPON#c-1"}, "sk": {"S": "USER#u-1"}})["Item"]
    assert coupon["usedBy"] == {"S": first.orderId}
    assert service.get_points("u-1").balance == 900 and service.get_points("u-2").balance == 1000


def test_cancel_restores_the_stock_once(service, saga):
    setup_shop(service)
    placed = order(service, ("p-1", 2))
    saga.run()
    assert service.get_product("p-1").stock == 3
    service.cancel(placed.orderId, T0, None)
    saga.run(copies=2)
    saga.replay_all()
    assert service.get_product("p-1").stock == 5
    assert service.get_order(placed.orderId).status is OrderStatus.CANCELLED
    with pytest.raises(WrongStatus):
        service.pay(placed.orderId, T0, None)
    with pytest.raises(WrongStatus):
        service.cancel(placed.orderId, T0, None)


def test_events_are_written_pending_with_the_correlation_id(service, saga, ddb):
    setup_shop(service)
    order(service, ("p-1", 1))
    (item,) = [i for i in ddb.scan(TableName="test-outbox")["Items"] if i.get("entity") == {"S": "OUTBOX"}]
    assert item["status"] == {"S": PENDING} and item["correlationId"] == {"S": "corr-1"}


def call(method: str, path: str, route: str, body: object = None, **params: str) -> tuple[int, dict]:
    event = http_event(method, path, route, json.dumps(body) if body is not None else None, params or None)
    response = api.lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_the_api_names_the_bad_field_and_maps_refusals(repository, service, saga):
    status, body = call(
        "POST", "/orders", "/orders", {"userId": "u-1", "items": [{"productId": "p-1", "quantity": 0}]}
    )
    assert status == 400 and "items.0.quantity" in body["message"]
    status, body = call(
        "POST", "/orders", "/orders", {"userId": "u-1", "items": [{"productId": "p-9", "quantity": 1}]}
    )
    assert status == 400 and "items.0.productId" in body["message"]
    assert (
        call("POST", "/products", "/products", {"productId": "p-1", "name": "Mug", "price": 100, "stock": 1})[
            0
        ]
        == 201
    )
    assert (
        call("POST", "/users/u-1/points", "/users/{userId}/points", {"amount": 50}, userId="u-1")[1][
            "balance"
        ]
        == 50
    )
    status, placed = call(
        "POST", "/orders", "/orders", {"userId": "u-1", "items": [{"productId": "p-1", "quantity": 1}]}
    )
    assert status == 201 and placed["status"] == "CREATED" and placed["total"] == 100
    oid = placed["orderId"]
    assert call("POST", f"/orders/{oid}/payment", "/orders/{orderId}/payment", orderId=oid)[0] == 409
    saga.run()
    status, body = call("POST", f"/orders/{oid}/payment", "/orders/{orderId}/payment", orderId=oid)
    assert (status, body["reason"]) == (402, "INSUFFICIENT_POINTS")
    assert call("GET", "/orders/x", "/orders/{orderId}", orderId="x")[0] == 404
    status, got = call("GET", f"/orders/{oid}", "/orders/{orderId}", orderId=oid)
    assert (
        status == 200
        and got["status"] == "RESERVED"
        and got["items"] == [{"productId": "p-1", "quantity": 1}]
    )
    assert call("GET", "/users/u-1/notifications", "/users/{userId}/notifications", userId="u-1") == (
        200,
        {"items": []},
    )


def test_a_refund_gives_points_coupon_and_stock_back_once(service, saga, ddb):
    setup_shop(service)
    coupon_key = {"pk": {"S": "COUPON#c-1"}, "sk": {"S": "USER#u-1"}}
    ddb.put_item(TableName=COUPONS, Item={**coupon_key, "couponId": {"S": "c-1"}, "userId": {"S": "u-1"}})
    placed = order(service, ("p-1", 2), coupon="c-1")
    with pytest.raises(WrongStatus):
        service.refund(placed.orderId, T0, None)  # not paid yet
    saga.run()
    service.pay(placed.orderId, T0, None)
    saga.run()
    service.refund(placed.orderId, T0, None)
    with pytest.raises(WrongStatus):
        service.refund(placed.orderId, T0, None)
    saga.run(copies=2)
    saga.replay_all()
    assert service.get_order(placed.orderId).status is OrderStatus.REFUNDED
    assert service.get_points("u-1").balance == 1000
    assert service.get_product("p-1").stock == 5
    assert "usedAt" not in ddb.get_item(TableName=COUPONS, Key=coupon_key)["Item"]
    assert [e.eventType for e in saga.delivered].count("payment.refunded") == 1


def _timeouts(repository, seconds: int = 60):
    from datetime import timedelta

    from orders.logic.timeouts import PaymentTimeouts

    return PaymentTimeouts(repository, timedelta(seconds=seconds), limit=100)


def test_an_unpaid_reservation_times_out_and_gives_its_stock_back(service, saga, repository):
    from datetime import timedelta

    setup_shop(service)
    late, paid, fresh = (order(service, ("p-1", 1)) for _ in range(3))
    saga.run()
    service.pay(paid.orderId, T0, None)
    saga.run()
    assert service.get_product("p-1").stock == 2
    sweep = _timeouts(repository).sweep(T0 + timedelta(seconds=30))
    assert (sweep.expired, sweep.cancelled) == (0, 0)  # nothing older than the timeout yet

    # `fresh` is reserved later than the others: only the two reserved at T0 are past the cutoff.
    repository.client.update_item(
        TableName=ORDERS,
        Key={"pk": {"S": f"ORDER#{fresh.orderId}"}, "sk": {"S": "ORDER"}},
        UpdateExpression="SET awaitingSince = :since",
        ExpressionAttributeValues={":since": {"S": f"2026-05-01T12:00:50.000Z#{fresh.orderId}"}},
    )
    sweep = _timeouts(repository).sweep(T0 + timedelta(seconds=61))
    assert (sweep.expired, sweep.cancelled) == (1, 1)  # the paid one left the index
    saga.run(copies=2)
    cancelled = service.get_order(late.orderId)
    assert (cancelled.status, cancelled.reason) == (OrderStatus.CANCELLED, "PAYMENT_TIMEOUT")
    assert service.get_order(paid.orderId).status is OrderStatus.COMPLETED
    assert service.get_order(fresh.orderId).status is OrderStatus.RESERVED
    assert service.get_product("p-1").stock == 3  # the timed-out unit back, once
    assert _timeouts(repository).sweep(T0 + timedelta(seconds=61)).expired == 0
    with pytest.raises(WrongStatus):
        service.pay(late.orderId, T0, None)


def test_a_payment_racing_the_timeout_wins_or_loses_whole(service, saga, repository, monkeypatch):
    """The sweep read the order RESERVED, then the payment committed: the cancel's status condition
    refuses it, so the order is paid, not also cancelled, and no order.cancelled is written."""
    from datetime import timedelta

    setup_shop(service)
    placed = order(service, ("p-1", 1))
    saga.run()
    timeouts = _timeouts(repository)
    real_cancel = repository.cancel

    def pay_then_cancel(order, event, now, reason):
        service.pay(order.orderId, T0, None)  # commits after the sweep's reads, before its cancel
        return real_cancel(order, event, now, reason)

    monkeypatch.setattr(repository, "cancel", pay_then_cancel)
    sweep = timeouts.sweep(T0 + timedelta(seconds=61))
    monkeypatch.undo()
    assert (sweep.cancelled, sweep.settled_meanwhile) == (0, 1)
    assert service.get_order(placed.orderId).status is OrderStatus.PAID
    assert service.get_points("u-1").balance == 900
    assert "order.cancelled" not in saga.run()
