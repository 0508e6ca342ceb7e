"""SeatApiFunction through its Lambda handler: routes, status codes, bodies, the gate seam, settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.settings import ConfigError
from tests.unit.coupons.support import FakeContext, http_event
from tests.unit.waiting_room.seat_support import (
    CONCERT,
    HOLD_SECONDS,
    ISSUER,
    MAX_SEATS,
    TABLE,
    FakeGate,
    Wiring,
    aws,  # noqa: F401  (fixture)
    ddb,  # noqa: F401  (fixture)
    document,
    entry_of,
    mint,
    tokens_for,
    wiring,  # noqa: F401  (fixture)
    write_keys,
)
from waiting_room.dal.seats_repo import SeatRepository
from waiting_room.handlers import hold_sweeper, seats
from waiting_room.logic.holds import HoldSweeper
from waiting_room.logic.tokens import KeyStatus


@pytest.fixture
def api(wiring: Wiring) -> Iterator[Wiring]:  # noqa: F811  (the fixture imported above)
    wiring.repo.create_seats(CONCERT, [str(i) for i in range(1, 6)])
    seats.set_service(wiring.service)
    yield wiring
    seats.set_service(None)
    seats.set_session_gate(None)


def call(method: str, path: str, route: str, token: str | None = None, **params: str) -> dict[str, Any]:
    event = http_event(method, path, route, None, params or None)
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    return seats.lambda_handler(event, FakeContext())


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def list_seats(token: str | None, concert: str = CONCERT) -> dict[str, Any]:
    return call("GET", f"/concerts/{concert}/seats", "/concerts/{concertId}/seats", token, concertId=concert)


def hold(seat: str, token: str | None, concert: str = CONCERT) -> dict[str, Any]:
    return call(
        "POST", f"/concerts/{concert}/seats/{seat}/hold", "/concerts/{concertId}/seats/{seatId}/hold", token,
        concertId=concert, seatId=seat,
    )  # fmt: skip


def release(hold_id: str, token: str | None) -> dict[str, Any]:
    return call("DELETE", f"/holds/{hold_id}", "/holds/{holdId}", token, holdId=hold_id)


def test_hold_answers_201_with_the_hold_and_availability_shows_it(api: Wiring):
    response = hold("3", api.token("u1"))
    assert response["statusCode"] == 201, response["body"]
    created = body(response)
    assert set(created) == {"holdId", "seatId", "concertId", "status", "expiresAt"}
    assert created["seatId"] == "3" and created["status"] == "HELD"
    assert created["expiresAt"] == (api.clock.now + timedelta(seconds=HOLD_SECONDS)).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    assert response["headers"]["x-correlation-id"] == "req-0001"

    listing = list_seats(api.token("u2"))
    assert listing["statusCode"] == 200
    assert {k: v for k, v in body(listing).items() if k != "seats"} == {
        "concertId": CONCERT, "total": 5, "available": 4, "held": 1, "sold": 0,
    }  # fmt: skip
    assert body(listing)["seats"][2] == {"seatId": "3", "status": "HELD"}  # no holder is disclosed


def test_hold_status_codes(api: Wiring):
    assert hold("1", api.token("u1"))["statusCode"] == 201
    taken = hold("1", api.token("u2"))
    assert taken["statusCode"] == 409 and body(taken)["seatStatus"] == "HELD"
    assert hold("404", api.token("u2"))["statusCode"] == 404
    assert hold("bad id!", api.token("u2"))["statusCode"] == 400
    for seat in range(2, MAX_SEATS + 1):
        assert hold(str(seat), api.token("u1"))["statusCode"] == 201
    limited = hold("5", api.token("u1"))
    assert limited["statusCode"] == 429 and "at most" in body(limited)["message"]


def test_token_problems_are_401_with_www_authenticate_and_403_for_another_concert_or_ended_entry(api: Wiring):
    impostor = tokens_for(document(("k1", KeyStatus.ACTIVE)))  # same kid, another private key
    cases = {
        "missing": (None, 401),
        "not a jwt": ("abc", 401),
        "forged": (mint(impostor, "u1", now=api.clock.now), 401),
        "other concert": (api.token("u1", concert="other"), 403),
    }
    for name, (token, status) in cases.items():
        response = hold("1", token)
        assert response["statusCode"] == status, (name, response["body"])
        if status == 401:
            assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    api.gate.ended.add(entry_of("u9"))
    ended = hold("1", api.token("u9"))
    assert ended["statusCode"] == 403 and "no longer active" in body(ended)["message"]
    assert list_seats(None)["statusCode"] == 401
    assert list_seats(api.token("u1", concert="other"))["statusCode"] == 403
    assert hold("1", api.token("u1"))["statusCode"] == 201  # none of the refusals touched the seat


def test_an_expired_token_is_401(api: Wiring):
    token = api.token("u1", valid_for=timedelta(minutes=1))
    api.clock.advance(minutes=1)
    response = hold("1", token)
    assert response["statusCode"] == 401 and body(response)["message"] == "token expired"


def test_a_token_signed_by_a_retired_key_is_401(api: Wiring):
    doc = document(("old", KeyStatus.ACTIVE))
    old_token = mint(tokens_for(doc), "u1", now=api.clock.now)
    doc["keys"][0]["status"] = "retired"
    doc["keys"].append(document(("new", KeyStatus.ACTIVE))["keys"][0])
    rotated = tokens_for(doc)
    api.service._tokens = lambda: rotated  # the function picked up the rotated secret
    response = hold("1", old_token)
    assert response["statusCode"] == 401 and "retired" in body(response)["message"]
    assert hold("1", mint(rotated, "u1", now=api.clock.now))["statusCode"] == 201


def test_release_codes(api: Wiring):
    created = body(hold("1", api.token("u1")))
    hold_id = created["holdId"]
    assert release(hold_id, None)["statusCode"] == 401
    assert release(hold_id, api.token("u2"))["statusCode"] == 403
    assert release("0" * 32, api.token("u1"))["statusCode"] == 404
    assert release("not-a-hold-id", api.token("u1"))["statusCode"] == 400
    released = release(hold_id, api.token("u1"))
    assert released["statusCode"] == 200 and body(released)["status"] == "RELEASED"
    assert body(list_seats(api.token("u1")))["available"] == 5
    assert body(release(hold_id, api.token("u1")))["status"] == "RELEASED"  # idempotent


def test_built_from_the_environment_the_gate_is_the_waiting_rooms_own(
    aws: None,  # noqa: F811
    ddb: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """Without an injected gate a hold asks the waiting room's entries: a token whose entry is not an
    active one (here: no such entry at all) is refused, never waved through."""
    tokens = tokens_for(doc := document(("k1", KeyStatus.ACTIVE)))
    monkeypatch.setenv("TOKEN_KEYS", write_keys(tmp_path / "keys.json", doc))
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("CONCERTS_TABLE_NAME", TABLE)
    seats.set_service(None)
    seats.set_session_gate(None)
    try:
        SeatRepository(ddb, TABLE).create_seats(CONCERT, ["1"])
        token = mint(tokens, "u1", now=datetime.now(UTC))
        assert list_seats(token)["statusCode"] == 200  # built from the environment
        refused = hold("1", token)
        assert refused["statusCode"] == 403 and "no longer active" in body(refused)["message"]
        gate = FakeGate()
        seats.set_session_gate(gate)
        assert hold("1", token)["statusCode"] == 201
        assert gate.asked == [(entry_of("u1"), CONCERT)]
        assert seats.get_service()._max_seats == 4 and seats.get_service()._hold_seconds == 300  # defaults
    finally:
        seats.set_service(None)
        seats.set_session_gate(None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOKEN_KEYS": ""}, "TOKEN_KEYS is not set"),
        ({"TOKEN_KEYS": "keys.json"}, "TOKEN_KEYS must be a Secrets Manager secret ARN"),
        ({"HOLD_SECONDS": "0"}, "HOLD_SECONDS"),
        ({"MAX_SEATS_PER_USER": "many"}, "MAX_SEATS_PER_USER"),
    ],
)
def test_a_misconfigured_function_fails_naming_the_variable(
    aws: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    message: str,
):
    monkeypatch.setenv("TOKEN_KEYS", write_keys(tmp_path / "keys.json", document(("k", KeyStatus.ACTIVE))))
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("CONCERTS_TABLE_NAME", TABLE)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seats.set_service(None)
    with pytest.raises(ConfigError, match=message):
        list_seats("x")
    seats.set_service(None)


def test_sweeper_handler_reports_what_it_expired(api: Wiring):
    hold("1", api.token("u1"))
    api.clock.advance(seconds=HOLD_SECONDS)
    hold_sweeper.set_sweeper(HoldSweeper(api.repo, api.clock))

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    context = FakeContext()
    context.get_remaining_time_in_millis = Context().get_remaining_time_in_millis  # type: ignore[method-assign]
    try:
        assert hold_sweeper.lambda_handler({}, context) == {"expired": 1, "finished": True}
    finally:
        hold_sweeper.set_sweeper(None)
