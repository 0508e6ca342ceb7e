"""Seat holds against DynamoDB Local: a concurrent surge of holds, expiry and the sweeper."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.stack.clients import local_credentials_env
from infra.stack.stack import provision
from tests.conftest import REPO, TEMPLATE
from tests.unit.waiting_room.seat_support import (
    CONCERT,
    ISSUER,
    Clock,
    create_concerts_table,
    document,
    mint,
    tokens_for,
)
from waiting_room.dal.seats_repo import SeatRepository, seat_key
from waiting_room.logic.holds import HoldLimitReached, HoldSweeper, SeatService, SeatUnavailable
from waiting_room.logic.tokens import KeyStatus
from waiting_room.models.seats import SeatView
from waiting_room.token_keys import TokenKeys

pytestmark = pytest.mark.stack

SEATS = 100
USERS = 200
ATTEMPTS = 1_000
MAX_PER_USER = 4
GREEDY_USERS = 20  # each tries 20 seats at once: the per-user limit is raced, not just reached


class AlwaysActive:
    def is_active(self, entry_id: str, concert_id: str, now: datetime) -> bool:
        return True


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return items


@pytest.fixture
def table(ddb: Any) -> str:
    name = f"concerts-{uuid.uuid4().hex[:8]}"
    create_concerts_table(ddb, name)
    return name


def _attempts(rng: random.Random) -> list[tuple[str, str]]:
    """Greedy users first, so their requests race one another for seats and for their own slots (without
    the limit each would win about five seats); then the others, so every seat is wanted six more times
    and ends up held."""
    users = [f"user-{i:03d}" for i in range(USERS)]
    greedy, others = users[:GREEDY_USERS], users[GREEDY_USERS:]
    first = [(user, seat) for user in greedy for seat in rng.sample(range(1, SEATS + 1), 20)]
    rng.shuffle(first)
    wanted = [seat for seat in range(1, SEATS + 1) for _ in range(6)]
    rng.shuffle(wanted)
    attempts = first + [(others[j % len(others)], seat) for j, seat in enumerate(wanted)]
    assert len(attempts) == ATTEMPTS and len({u for u, _ in attempts}) == USERS
    return [(user, str(seat)) for user, seat in attempts]


def test_a_thousand_concurrent_holds_never_double_hold_a_seat_or_exceed_the_user_limit(ddb: Any, table: str):
    repo = SeatRepository(ddb, table)
    assert repo.create_seats(CONCERT, [str(i) for i in range(1, SEATS + 1)]) == SEATS
    tokens = tokens_for(document(("k1", KeyStatus.ACTIVE)))
    service = SeatService(
        repo, lambda: tokens, AlwaysActive(), issuer=ISSUER, hold_seconds=300, max_seats_per_user=MAX_PER_USER
    )
    attempts = _attempts(random.Random(20260601))
    now = datetime.now().astimezone()
    token_of = {user: mint(tokens, user, now=now) for user, _ in attempts}

    def attempt(user_seat: tuple[str, str]) -> tuple[int, str, str, str | None]:
        user, seat = user_seat
        try:
            hold = service.hold(CONCERT, seat, token_of[user])
            return 201, user, seat, hold.hold_id
        except SeatUnavailable:
            return 409, user, seat, None
        except HoldLimitReached:
            return 429, user, seat, None

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(attempt, attempts))

    codes = Counter(code for code, *_ in results)
    won = [(user, seat, hold_id) for code, user, seat, hold_id in results if code == 201]
    per_user = Counter(user for user, _, _ in won)
    assert max(per_user.values()) <= MAX_PER_USER, per_user.most_common(3)
    assert sorted(int(seat) for _, seat, _ in won) == list(range(1, SEATS + 1)), codes  # every seat once
    assert codes[201] == SEATS, codes
    assert codes[429] > 0 and set(codes) == {201, 409, 429}, codes  # the limit was hit, under the race
    assert max(per_user.values()) == MAX_PER_USER

    # What is stored agrees: one live hold per seat, the seat names it, no user above the limit.
    items = _scan(ddb, table)
    holds = {i["holdId"]["S"]: i for i in items if i["pk"]["S"].startswith("HOLD#")}
    seats = {i["seatId"]["S"]: i for i in items if i["sk"]["S"].startswith("SEAT#")}
    slots = [i for i in items if i["sk"]["S"].startswith("HOLDSLOT#")]
    assert len(holds) == SEATS and all(h["status"]["S"] == "HELD" for h in holds.values())
    assert {seat_id: s["holdId"]["S"] for seat_id, s in seats.items()} == {seat: h for _, seat, h in won}
    assert Counter(h["userId"]["S"] for h in holds.values()) == per_user
    assert len(slots) == SEATS and {s["holdId"]["S"] for s in slots} == set(holds)
    listed = service.availability(CONCERT, token_of["user-000"]).seats
    assert len(listed) == SEATS and {view for _, view in listed} == {SeatView.HELD}


def test_an_expired_hold_frees_the_seat_and_the_sweeper_releases_it(ddb: Any, table: str):
    repo = SeatRepository(ddb, table)
    repo.create_seats(CONCERT, ["A1", "A2"])
    tokens = tokens_for(document(("k1", KeyStatus.ACTIVE)))
    clock = Clock(datetime.now().astimezone())
    service = SeatService(
        repo,
        lambda: tokens,
        AlwaysActive(),
        issuer=ISSUER,
        hold_seconds=60,
        max_seats_per_user=1,
        clock=clock,
    )
    first = service.hold(CONCERT, "A1", mint(tokens, "alice", now=clock.now))
    service.hold(CONCERT, "A2", mint(tokens, "bob", now=clock.now))
    with pytest.raises(SeatUnavailable):
        service.hold(CONCERT, "A1", mint(tokens, "carol", now=clock.now))
    with pytest.raises(HoldLimitReached):
        service.hold(CONCERT, "A2", mint(tokens, "alice", now=clock.now))

    clock.advance(seconds=60)  # both holds expire; the sweeper has not run
    assert dict(service.availability(CONCERT, mint(tokens, "carol", now=clock.now)).seats) == {
        "A1": SeatView.AVAILABLE, "A2": SeatView.AVAILABLE,
    }  # fmt: skip
    again = service.hold(CONCERT, "A1", mint(tokens, "carol", now=clock.now))

    result = HoldSweeper(repo, clock).sweep(lambda: 60.0)
    assert (result.expired, result.finished) == (2, True)
    a1 = ddb.get_item(TableName=table, Key=seat_key(CONCERT, "A1"), ConsistentRead=True)["Item"]
    a2 = ddb.get_item(TableName=table, Key=seat_key(CONCERT, "A2"), ConsistentRead=True)["Item"]
    assert a1["holdId"]["S"] == again.hold_id  # the newer hold is untouched
    assert "holdId" not in a2  # bob's expired hold is gone from the seat
    assert repo.get_hold(first.hold_id).status.value == "EXPIRED"  # type: ignore[union-attr]
    assert HoldSweeper(repo, clock).sweep(lambda: 60.0).expired == 0
    # alice's slot is free again: her limit of one counts live holds only.
    assert service.hold(CONCERT, "A2", mint(tokens, "alice", now=clock.now)).seat_id == "A2"


def test_racing_seat_creation_never_overwrites_a_held_seat(ddb: Any, table: str):
    repo = SeatRepository(ddb, table)
    repo.create_seats(CONCERT, ["1", "2"])
    tokens = tokens_for(document(("k1", KeyStatus.ACTIVE)))
    service = SeatService(
        repo, lambda: tokens, AlwaysActive(), issuer=ISSUER, hold_seconds=300, max_seats_per_user=4
    )
    hold = service.hold(CONCERT, "1", mint(tokens, "u1", now=datetime.now().astimezone()))
    seat_ids = [str(i) for i in range(1, 251)]
    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda _: repo.create_seats(CONCERT, seat_ids), range(4)))
    assert sum(created) == 248  # each missing seat created exactly once across the racers
    seat1 = ddb.get_item(TableName=table, Key=seat_key(CONCERT, "1"), ConsistentRead=True)["Item"]
    assert seat1["holdId"]["S"] == hold.hold_id
    assert len(repo.list_seats(CONCERT)) == 250


def test_surge_invoke_signs_and_verifies_with_the_key_generated_for_its_state_dir(
    stack: Any, ddb: Any, tmp_path: Path
):
    """The local key pipeline end to end: `surge invoke` generates the key file, the function (in its own
    worker process) verifies with it, and a token minted from the same file is accepted."""
    provision(stack.endpoints, TEMPLATE)
    SeatRepository(ddb, "surge-concerts").create_seats(CONCERT, ["1", "2"])
    env = {
        **os.environ,
        **stack.endpoints.as_env(),
        **local_credentials_env(),
        "SURGE_STATE_DIR": str(tmp_path),
    }

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event))
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", "invoke", "SeatApiFunction", "-e", str(path)],
            cwd=REPO, text=True, capture_output=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    fixture = json.loads((REPO / "events/waiting_room/seats_list.json").read_text())
    assert invoke(fixture)["statusCode"] == 401  # the committed placeholder
    key_file = tmp_path / "keys" / "QueueTokenKeys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    tokens = TokenKeys(key_file.as_uri()).current()
    now = datetime.now().astimezone()
    issuer = "https://surge.local/queue"  # the template's QueueTokenIssuer default
    token = tokens.mint(
        issuer, CONCERT, "u1", f"{CONCERT}.{uuid.uuid4().hex}", 1, now + timedelta(minutes=5), now
    )
    fixture["headers"]["authorization"] = f"Bearer {token}"
    response = invoke(fixture)
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["total"] == 2
