"""POST /holds/{holdId}/payment on moto: a live hold paid with points sells the seat, confirms a
reservation and writes reservation.confirmed, all in one transaction; every refusal changes nothing.
Each test fails when its condition (hold live, balance >= price, seat still this hold's) is removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from orders.dal.orders_repo import points_key
from tests.unit.outbox.conftest import create_from_template
from tests.unit.waiting_room.seat_support import (
    CONCERT,
    HOLD_SECONDS,
    ISSUER,
    Wiring,
    aws,  # noqa: F401  (fixture)
    ddb,  # noqa: F401  (fixture)
    wiring,  # noqa: F401  (fixture)
)
from tests.unit.waiting_room.test_seat_api import body, call, hold, list_seats
from waiting_room.dal.hold_payments_repo import HoldPaymentRepository
from waiting_room.handlers import seats
from waiting_room.logic.hold_payment import HoldPaymentService

ORDERS, OUTBOX, PRICE = "test-orders", "test-outbox", 100


@pytest.fixture
def api(wiring: Wiring) -> Iterator[Wiring]:  # noqa: F811  (the fixture imported above)
    create_from_template(wiring.ddb, "OrdersTable", ORDERS)
    create_from_template(wiring.ddb, "OutboxTable", OUTBOX)
    wiring.repo.create_seats(CONCERT, [str(i) for i in range(1, 6)])
    seats.set_service(wiring.service)
    seats.set_payments(
        HoldPaymentService(
            wiring.repo,
            HoldPaymentRepository(wiring.ddb, "test-concerts", ORDERS, OUTBOX),
            lambda: wiring.tokens,
            issuer=ISSUER,
            seat_price=PRICE,
            clock=wiring.clock,
        )
    )
    yield wiring
    seats.set_service(None)
    seats.set_payments(None)


def top_up(api: Wiring, user: str, points: int) -> None:
    api.ddb.put_item(TableName=ORDERS, Item={**points_key(user), "balance": {"N": str(points)}})


def balance(api: Wiring, user: str) -> int:
    return int(api.ddb.get_item(TableName=ORDERS, Key=points_key(user))["Item"]["balance"]["N"])


def pay(hold_id: str, token: str | None) -> dict[str, Any]:
    return call("POST", f"/holds/{hold_id}/payment", "/holds/{holdId}/payment", token, holdId=hold_id)


def events(api: Wiring) -> list[dict[str, Any]]:
    return [i for i in api.ddb.scan(TableName=OUTBOX)["Items"] if i.get("entity") == {"S": "OUTBOX"}]


def test_a_paid_hold_sells_the_seat_and_writes_one_event(api: Wiring):
    top_up(api, "u1", 250)
    token = api.token("u1")
    hold_id = body(hold("1", token))["holdId"]
    paid = pay(hold_id, token)
    assert paid["statusCode"] == 200, paid
    assert body(paid) == {
        "reservationId": hold_id, "holdId": hold_id, "concertId": CONCERT, "seatId": "1", "userId": "u1",
        "price": PRICE, "status": "CONFIRMED",
    }  # fmt: skip
    assert balance(api, "u1") == 150
    assert body(list_seats(token))["sold"] == 1
    (event,) = events(api)
    assert event["eventType"] == {"S": "reservation.confirmed"} and event["topic"] == {
        "S": "reservation.confirmed"
    }
    assert json.loads(event["payload"]["S"])["seatId"] == "1" and event["status"] == {"S": "PENDING"}
    # A retried payment answers the reservation again and charges nothing more.
    again = pay(hold_id, token)
    assert again["statusCode"] == 200 and body(again)["status"] == "CONFIRMED"
    assert balance(api, "u1") == 150 and len(events(api)) == 1
    # The sold seat cannot be held again, and the user's slot is free for another seat.
    assert hold("1", api.token("u2"))["statusCode"] == 409
    assert hold("2", token)["statusCode"] == 201


def test_an_expired_hold_is_410_and_charges_nothing(api: Wiring):
    top_up(api, "u1", 500)
    token = api.token("u1")
    hold_id = body(hold("1", token))["holdId"]
    api.clock.advance(seconds=HOLD_SECONDS + 1)
    gone = pay(hold_id, token)
    assert gone["statusCode"] == 410 and body(gone)["holdStatus"] == "EXPIRED"
    assert balance(api, "u1") == 500 and events(api) == []
    assert body(list_seats(token))["sold"] == 0


def test_points_that_do_not_cover_the_price_are_402_and_change_nothing(api: Wiring):
    top_up(api, "u1", PRICE - 1)
    token = api.token("u1")
    hold_id = body(hold("1", token))["holdId"]
    refused = pay(hold_id, token)
    assert refused["statusCode"] == 402 and body(refused)["reason"] == "INSUFFICIENT_POINTS"
    assert balance(api, "u1") == PRICE - 1 and events(api) == []
    seats_now = body(list_seats(token))
    assert (seats_now["sold"], seats_now["held"]) == (0, 1)  # still held: the user may top up and retry


def test_who_may_pay(api: Wiring):
    top_up(api, "u1", 500)
    hold_id = body(hold("1", api.token("u1")))["holdId"]
    assert pay(hold_id, None)["statusCode"] == 401
    assert pay(hold_id, api.token("u2"))["statusCode"] == 403
    assert pay("0" * 32, api.token("u1"))["statusCode"] == 404
    released = call("DELETE", f"/holds/{hold_id}", "/holds/{holdId}", api.token("u1"), holdId=hold_id)
    assert released["statusCode"] == 200
    assert pay(hold_id, api.token("u1"))["statusCode"] == 409
    assert balance(api, "u1") == 500


def test_a_hold_the_sweeper_expires_between_the_read_and_the_transaction_is_not_paid(
    api: Wiring, monkeypatch
):
    """The service read the hold HELD; before its transaction the sweeper marked it EXPIRED and freed
    the seat. The hold's `status = HELD` condition refuses the payment: 410, nothing charged."""
    top_up(api, "u1", 500)
    token = api.token("u1")
    hold_id = body(hold("1", token))["holdId"]
    real_get = api.repo.get_hold
    swept: list[str] = []

    def read_then_sweep(hold_id: str):
        found = real_get(hold_id)
        assert found is not None
        if not swept:
            assert api.repo.expire_hold(found, found.expires_ms)  # as the sweeper would, at expiry
            swept.append(hold_id)
        return found

    monkeypatch.setattr(api.repo, "get_hold", read_then_sweep)
    refused = pay(hold_id, token)
    monkeypatch.undo()
    assert refused["statusCode"] == 410, refused
    assert balance(api, "u1") == 500 and events(api) == []
    assert body(list_seats(token))["sold"] == 0
