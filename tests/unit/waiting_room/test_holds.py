"""Seat holds through the service and the DAL on moto: conditions, slots, expiry, release, sweeper."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.waiting_room.seat_support import (
    CONCERT,
    HOLD_SECONDS,
    MAX_SEATS,
    TABLE,
    Wiring,
    aws,  # noqa: F401  (fixture)
    ddb,  # noqa: F401  (fixture)
    entry_of,
    wiring,  # noqa: F401  (fixture)
)
from waiting_room.dal.seats_repo import hold_key, seat_key, slot_key
from waiting_room.logic.holds import (
    HoldLimitReached,
    HoldNotFound,
    NotHolder,
    SeatNotFound,
    SeatUnavailable,
    to_ms,
)
from waiting_room.logic.tokens import TokenRejected
from waiting_room.models.seats import Hold, HoldCancelled, HoldConflict, HoldStatus, SeatView

pytestmark = pytest.mark.usefixtures("wiring")


def item(w: Wiring, key: dict[str, Any]) -> dict[str, Any] | None:
    return w.ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")


def views(w: Wiring, user: str = "viewer") -> dict[str, SeatView]:
    return dict(w.service.availability(CONCERT, w.token(user)).seats)


@pytest.fixture
def seats(wiring: Wiring) -> Wiring:  # noqa: F811  (the fixture imported above)
    assert wiring.repo.create_seats(CONCERT, [str(i) for i in range(1, 11)]) == 10
    return wiring


def test_create_seats_is_idempotent_and_never_touches_an_existing_seat(seats: Wiring):
    hold = seats.service.hold(CONCERT, "3", seats.token("u1"))
    assert seats.repo.create_seats(CONCERT, [str(i) for i in range(1, 13)]) == 2
    assert seats.repo.create_seats(CONCERT, [str(i) for i in range(1, 13)]) == 0
    assert views(seats)["3"] is SeatView.HELD
    assert item(seats, seat_key(CONCERT, "3"))["holdId"]["S"] == hold.hold_id  # type: ignore[index]
    assert len(views(seats)) == 12


def test_availability_lists_every_seat_in_seat_order(seats: Wiring):
    seats.service.hold(CONCERT, "10", seats.token("u1"))
    listed = seats.service.availability(CONCERT, seats.token("u2")).seats
    assert [seat_id for seat_id, _ in listed] == [str(i) for i in range(1, 11)]
    assert dict(listed)["10"] is SeatView.HELD and dict(listed)["2"] is SeatView.AVAILABLE
    with pytest.raises(SeatNotFound):
        seats.service.availability("other", seats.token("u2", concert="other"))


def test_a_hold_writes_the_seat_the_slot_and_the_hold_item(seats: Wiring):
    hold = seats.service.hold(CONCERT, "1", seats.token("u1"))
    expires = to_ms(seats.clock.now) + HOLD_SECONDS * 1000
    assert (hold.seat_id, hold.user_id, hold.entry_id, hold.slot, hold.expires_ms) == (
        "1", "u1", entry_of("u1"), 0, expires,
    )  # fmt: skip
    seat = item(seats, seat_key(CONCERT, "1"))
    slot = item(seats, slot_key(CONCERT, "u1", 0))
    stored = item(seats, hold_key(hold.hold_id))
    assert seat and slot and stored
    assert seat["holdId"]["S"] == slot["holdId"]["S"] == stored["holdId"]["S"] == hold.hold_id
    assert stored["status"]["S"] == "HELD" and stored["gsi1pk"]["S"].startswith("HOLDEXP#")
    assert int(stored["ttl"]["N"]) > expires // 1000  # TTL only tidies, well after expiry


def test_a_held_seat_cannot_be_held_again_by_anyone(seats: Wiring):
    seats.service.hold(CONCERT, "1", seats.token("u1"))
    for user in ("u2", "u1"):
        with pytest.raises(SeatUnavailable) as caught:
            seats.service.hold(CONCERT, "1", seats.token(user))
        assert caught.value.extra == {"seatStatus": "HELD"}


def test_a_sold_seat_cannot_be_held(seats: Wiring):
    seats.ddb.update_item(
        TableName=TABLE, Key=seat_key(CONCERT, "2"), UpdateExpression="SET #s = :sold",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":sold": {"S": "SOLD"}},
    )  # fmt: skip
    with pytest.raises(SeatUnavailable) as caught:
        seats.service.hold(CONCERT, "2", seats.token("u1"))
    assert caught.value.extra == {"seatStatus": "SOLD"}
    assert views(seats)["2"] is SeatView.SOLD


def test_an_unknown_seat_is_not_found_and_costs_no_slot(seats: Wiring):
    with pytest.raises(SeatNotFound):
        seats.service.hold(CONCERT, "999", seats.token("u1"))
    assert seats.repo.hold_slots(CONCERT, "u1") == []


def test_at_most_max_seats_per_user_live_holds(seats: Wiring):
    holds = [seats.service.hold(CONCERT, str(i), seats.token("u1")) for i in range(1, MAX_SEATS + 1)]
    assert sorted(h.slot for h in holds) == list(range(MAX_SEATS))
    with pytest.raises(HoldLimitReached):
        seats.service.hold(CONCERT, "9", seats.token("u1"))
    assert views(seats)["9"] is SeatView.AVAILABLE
    seats.service.hold(CONCERT, "9", seats.token("u2"))  # the limit is per user
    seats.service.release(holds[0].hold_id, seats.token("u1"))
    assert seats.service.hold(CONCERT, "8", seats.token("u1")).slot == holds[0].slot


def test_the_limit_is_per_concert(seats: Wiring):
    seats.repo.create_seats("other", ["1", "2", "3"])
    for i in range(1, MAX_SEATS + 1):
        seats.service.hold(CONCERT, str(i), seats.token("u1"))
    assert seats.service.hold("other", "1", seats.token("u1", concert="other")).slot == 0


def test_the_dal_refuses_a_second_live_hold_on_a_seat_or_in_a_slot(seats: Wiring):
    """The conditions themselves, without the service's slot choice in front of them."""
    now_ms = to_ms(seats.clock.now)
    first = seats.service.hold(CONCERT, "1", seats.token("u1"))

    def attempt(seat: str, user: str, slot: int, hold_id: str) -> set[HoldConflict]:
        hold = Hold(
            hold_id,
            CONCERT,
            seat,
            user,
            entry_of(user),
            slot,
            HoldStatus.HELD,
            seats.clock.now,
            now_ms + 1000,
        )
        with pytest.raises(HoldCancelled) as caught:
            seats.repo.create_hold(hold, now_ms)
        return caught.value.causes

    assert attempt("1", "u2", 0, "b" * 32) == {HoldConflict.SEAT}
    assert attempt("2", "u1", first.slot, "c" * 32) == {HoldConflict.SLOT}
    assert attempt("3", "u2", 0, first.hold_id) == {HoldConflict.HOLD_ID}
    assert views(seats)["2"] is views(seats)["3"] is SeatView.AVAILABLE  # nothing half-written


def test_a_slot_taken_by_a_parallel_request_of_the_same_user_is_retried_with_another(seats: Wiring):
    """Between reading the user's slots and the transaction, their other request takes the slot."""
    original = seats.repo.hold_slots
    raced: list[Hold] = []

    def hold_slots(concert_id: str, user_id: str) -> Any:
        slots = original(concert_id, user_id)
        if not raced:
            raced.append(Hold("e" * 32, CONCERT, "5", user_id, entry_of(user_id), 0, HoldStatus.HELD,
                              seats.clock.now, to_ms(seats.clock.now) + 60_000))  # fmt: skip
            seats.repo.create_hold(raced[0], to_ms(seats.clock.now))
        return slots

    seats.repo.hold_slots = hold_slots  # type: ignore[method-assign]
    hold = seats.service.hold(CONCERT, "1", seats.token("u1"))
    assert hold.slot == 1
    assert {s.hold_id for s in original(CONCERT, "u1")} == {hold.hold_id, "e" * 32}


def test_an_expired_hold_frees_the_seat_and_the_slot_without_the_sweeper(seats: Wiring):
    holds = [seats.service.hold(CONCERT, str(i), seats.token("u1")) for i in range(1, MAX_SEATS + 1)]
    seats.clock.advance(seconds=HOLD_SECONDS - 1)
    with pytest.raises(SeatUnavailable):
        seats.service.hold(CONCERT, "1", seats.token("u2"))
    seats.clock.advance(seconds=1)  # expiresAt == now: expired
    assert views(seats)["1"] is SeatView.AVAILABLE
    again = seats.service.hold(CONCERT, "1", seats.token("u2"))
    assert item(seats, seat_key(CONCERT, "1"))["holdId"]["S"] == again.hold_id  # type: ignore[index]
    # u1's expired holds no longer count against their limit either.
    assert seats.service.hold(CONCERT, "5", seats.token("u1")).slot in {h.slot for h in holds}


def test_the_gate_decides_whether_the_entry_is_still_active(seats: Wiring):
    seats.gate.ended.add(entry_of("u1"))
    with pytest.raises(TokenRejected) as caught:
        seats.service.hold(CONCERT, "1", seats.token("u1"))
    assert caught.value.status == 403 and "no longer active" in caught.value.reason
    assert seats.gate.asked == [(entry_of("u1"), CONCERT)]
    assert views(seats)["1"] is SeatView.AVAILABLE


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("garbage", 401), ("other-concert", 403), ("expired", 401)],
)
def test_holds_need_a_valid_token_for_the_concert(seats: Wiring, token: str | None, status: int):
    tokens = {"other-concert": seats.token("u1", concert="other"), "expired": seats.token("u1")}
    if token == "expired":
        seats.clock.advance(hours=2)
    with pytest.raises(TokenRejected) as caught:
        seats.service.hold(CONCERT, "1", tokens.get(token or "", token))
    assert caught.value.status == status
    assert seats.gate.asked == []  # refused before any entry lookup


def test_release_by_the_holder_frees_seat_and_slot_and_is_idempotent(seats: Wiring):
    hold = seats.service.hold(CONCERT, "1", seats.token("u1"))
    with pytest.raises(NotHolder):
        seats.service.release(hold.hold_id, seats.token("u2"))
    with pytest.raises(TokenRejected) as caught:
        seats.service.release(hold.hold_id, seats.token("u1", concert="other"))
    assert caught.value.status == 403
    assert seats.service.release(hold.hold_id, seats.token("u1")).status is HoldStatus.RELEASED
    assert views(seats)["1"] is SeatView.AVAILABLE
    assert seats.repo.hold_slots(CONCERT, "u1") == []
    assert "gsi1pk" not in item(seats, hold_key(hold.hold_id))  # type: ignore[operator]
    assert seats.service.release(hold.hold_id, seats.token("u1")).status is HoldStatus.RELEASED
    with pytest.raises(HoldNotFound):
        seats.service.release("f" * 32, seats.token("u1"))
    with pytest.raises(TokenRejected):
        seats.service.release(hold.hold_id, None)


def test_release_never_frees_a_seat_a_newer_hold_has_taken(seats: Wiring):
    old = seats.service.hold(CONCERT, "1", seats.token("u1"))
    seats.clock.advance(seconds=HOLD_SECONDS)
    new = seats.service.hold(CONCERT, "1", seats.token("u2"))
    assert seats.service.release(old.hold_id, seats.token("u1")).status is HoldStatus.EXPIRED
    assert item(seats, seat_key(CONCERT, "1"))["holdId"]["S"] == new.hold_id  # type: ignore[index]
    assert views(seats)["1"] is SeatView.HELD


def test_the_sweeper_tidies_expired_holds_only(seats: Wiring):
    expired = seats.service.hold(CONCERT, "1", seats.token("u1"))
    retaken = seats.service.hold(CONCERT, "2", seats.token("u2"))
    seats.clock.advance(seconds=HOLD_SECONDS)
    newer = seats.service.hold(CONCERT, "2", seats.token("u3"))
    live = seats.service.hold(CONCERT, "3", seats.token("u4"))

    result = seats.sweeper.sweep(lambda: 60.0)
    assert (result.expired, result.finished) == (2, True)
    seat1 = item(seats, seat_key(CONCERT, "1"))
    assert seat1 is not None and "holdId" not in seat1
    assert item(seats, slot_key(CONCERT, "u1", expired.slot)) is None
    for hold_id in (expired.hold_id, retaken.hold_id):
        stored = item(seats, hold_key(hold_id))
        assert stored and stored["status"]["S"] == "EXPIRED" and "gsi1pk" not in stored
    assert item(seats, seat_key(CONCERT, "2"))["holdId"]["S"] == newer.hold_id  # type: ignore[index]
    assert item(seats, hold_key(live.hold_id))["status"]["S"] == "HELD"  # type: ignore[index]
    assert seats.sweeper.sweep(lambda: 60.0).expired == 0  # nothing left in the index


def test_the_sweeper_stops_when_time_runs_low(seats: Wiring):
    for i in range(1, 4):
        seats.service.hold(CONCERT, str(i), seats.token(f"u{i}"))
    seats.clock.advance(seconds=HOLD_SECONDS)
    left = iter([60.0, 1.0])
    result = seats.sweeper.sweep(lambda: next(left))
    assert (result.expired, result.finished) == (1, False)
    assert seats.sweeper.sweep(lambda: 60.0).expired == 2
