"""Every seat fixture in events/waiting_room/ runs through its handler (the files `surge invoke -e` takes).

The HTTP fixtures carry a placeholder where the bearer token goes (a real token expires): as they are,
they are refused with 401; with a freshly minted token in its place they do what they say.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.template import HttpApiEventSpec, ScheduleEventSpec, load_template
from orders.dal.orders_repo import points_key
from tests.conftest import TEMPLATE
from tests.unit.coupons.support import FakeContext
from tests.unit.outbox.conftest import create_from_template
from tests.unit.waiting_room.seat_support import (
    CONCERT,
    HOLD_SECONDS,
    ISSUER,
    TABLE,
    Wiring,
    aws,  # noqa: F401  (fixture)
    ddb,  # noqa: F401  (fixture)
    wiring,  # noqa: F401  (fixture)
)
from waiting_room.dal.hold_payments_repo import HoldPaymentRepository
from waiting_room.handlers import hold_sweeper, seats
from waiting_room.logic.hold_payment import HoldPaymentService
from waiting_room.logic.holds import HoldSweeper

ORDERS, OUTBOX = "test-orders", "test-outbox"
EVENTS = Path(__file__).resolve().parents[3] / "events" / "waiting_room"
HTTP_FIXTURES = ["seats_list.json", "seats_hold.json", "seats_release.json", "seats_pay_hold.json"]
SWEEPER_FIXTURE = "hold_sweeper_schedule.json"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


@pytest.fixture
def api(wiring: Wiring) -> Iterator[Wiring]:  # noqa: F811  (the fixture imported above)
    seats.set_service(wiring.service)
    hold_sweeper.set_sweeper(HoldSweeper(wiring.repo, wiring.clock))
    create_from_template(wiring.ddb, "OrdersTable", ORDERS)
    create_from_template(wiring.ddb, "OutboxTable", OUTBOX)
    repository = HoldPaymentRepository(wiring.ddb, TABLE, ORDERS, OUTBOX)
    seats.set_payments(
        HoldPaymentService(
            wiring.repo, repository, lambda: wiring.tokens, issuer=ISSUER, seat_price=100, clock=wiring.clock
        )
    )
    yield wiring
    seats.set_service(None)
    seats.set_payments(None)
    hold_sweeper.set_sweeper(None)


def test_fixtures_through_handlers(api: Wiring):
    assert api.repo.create_seats(CONCERT, [str(i) for i in range(1, 21)]) == 20
    token = api.token("user-1")

    def http(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = seats.lambda_handler(event, FakeContext())
        return response["statusCode"], json.loads(response["body"])

    for name in HTTP_FIXTURES:
        assert http(load(name))[0] == 401, f"{name} as committed must be refused (placeholder token)"

    status, listing = http(with_token(load("seats_list.json"), token))
    assert status == 200 and listing["total"] == 20 and listing["available"] == 20
    status, held = http(with_token(load("seats_hold.json"), token))
    assert status == 201 and held["seatId"] == "12"
    assert http(with_token(load("seats_list.json"), token))[1]["held"] == 1

    release = with_token(load("seats_release.json"), token)
    assert http(release)[0] == 404  # the placeholder hold id is nobody's hold
    release["pathParameters"]["holdId"] = held["holdId"]
    release["rawPath"] = release["requestContext"]["http"]["path"] = f"/holds/{held['holdId']}"
    status, released = http(release)
    assert status == 200 and released["status"] == "RELEASED"

    _, again = http(with_token(load("seats_hold.json"), token))
    payment = with_token(load("seats_pay_hold.json"), token)
    assert http(payment)[0] == 404  # the placeholder hold id is nobody's hold
    payment["pathParameters"]["holdId"] = again["holdId"]
    payment["rawPath"] = payment["requestContext"]["http"]["path"] = f"/holds/{again['holdId']}/payment"
    assert http(payment)[0] == 402  # no points yet
    api.ddb.put_item(TableName=ORDERS, Item={**points_key("user-1"), "balance": {"N": "100"}})
    status, reservation = http(payment)
    assert status == 200 and reservation["status"] == "CONFIRMED"

    http(with_token(load("seats_hold.json"), token))  # seat 12 is sold now: refused
    held_13 = with_token(load("seats_hold.json"), token)
    held_13["pathParameters"]["seatId"] = "13"
    held_13["rawPath"] = held_13["requestContext"]["http"]["path"] = f"/concerts/{CONCERT}/seats/13/hold"
    assert http(held_13)[0] == 201
    api.clock.advance(seconds=HOLD_SECONDS)
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: 60_000  # type: ignore[method-assign]
    assert hold_sweeper.lambda_handler(load(SWEEPER_FIXTURE), context) == {"expired": 1, "finished": True}


def test_fixtures_cover_every_route_and_the_schedule_of_the_template():
    template = load_template(TEMPLATE)
    routes = {
        f"{event.method} {event.path}"
        for event in template.functions["SeatApiFunction"].events
        if isinstance(event, HttpApiEventSpec)
    }
    events = [load(name) for name in HTTP_FIXTURES]
    assert all(event["version"] == "2.0" for event in events)
    assert {event["routeKey"] for event in events} == routes
    sweeper = template.functions["SeatHoldSweeperFunction"]
    assert [type(event) for event in sweeper.events] == [ScheduleEventSpec]
    assert load(SWEEPER_FIXTURE)["detail-type"] == "Scheduled Event"
    assert sweeper.handler == "waiting_room.handlers.hold_sweeper.lambda_handler"
    assert template.functions["SeatApiFunction"].handler == "waiting_room.handlers.seats.lambda_handler"
