"""Keys, tokens, a moto ConcertsTable and a fake session gate for the seat and token tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from tests.unit.coupons.conftest import create_table
from waiting_room.dal.seats_repo import SeatRepository
from waiting_room.logic.holds import HoldSweeper, SeatService
from waiting_room.logic.tokens import KeyStatus, Tokens, key_document, parse_key_set

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE = "test-concerts"
ISSUER = "https://surge.test/queue"
CONCERT = "rock-2026"
T0 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def document(*keys: tuple[str, KeyStatus]) -> dict[str, Any]:
    return key_document((kid, status, new_key()) for kid, status in keys)


def tokens_for(doc: dict[str, Any]) -> Tokens:
    return Tokens(parse_key_set(doc))


def write_keys(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc))
    return f"file://{path}"


def mint(
    tokens: Tokens,
    user: str = "user-1",
    concert: str = CONCERT,
    entry: str | None = None,
    now: datetime = T0,
    valid_for: timedelta = timedelta(minutes=10),
) -> str:
    return tokens.mint(ISSUER, concert, user, entry or entry_of(user, concert), 7, now + valid_for, now)


def entry_of(user: str, concert: str = CONCERT) -> str:
    """A stable entry id per user and concert, in the waiting room's format."""
    return f"{concert}.{uuid.uuid5(uuid.NAMESPACE_URL, concert + '/' + user).hex}"


@dataclass
class FakeGate:
    """SessionGate: entries in `ended` are no longer active; records what it was asked."""

    ended: set[str] = field(default_factory=set)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def is_active(self, entry_id: str, concert_id: str, now: datetime) -> bool:
        self.asked.append((entry_id, concert_id))
        return entry_id not in self.ended


def create_concerts_table(client: DynamoDBClient, name: str = TABLE) -> None:
    """ConcertsTable has the same keys and GSI as CouponsTable (pk/sk and gsi1)."""
    create_table(client, name)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "surge-test")
    with mock_aws():
        yield


@pytest.fixture
def ddb(aws: None) -> DynamoDBClient:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_concerts_table(client)
    return client


class Clock:
    """A settable clock for the service and sweeper."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


HOLD_SECONDS = 300
MAX_SEATS = 2


@dataclass
class Wiring:
    ddb: Any
    repo: SeatRepository
    tokens: Tokens
    gate: FakeGate
    clock: Clock
    service: SeatService
    sweeper: HoldSweeper

    def token(self, user: str, concert: str = CONCERT, valid_for: timedelta = timedelta(hours=1)) -> str:
        return mint(self.tokens, user, concert, now=self.clock.now, valid_for=valid_for)


@pytest.fixture
def wiring(ddb: DynamoDBClient) -> Wiring:
    repo = SeatRepository(ddb, TABLE)
    tokens = tokens_for(document(("k1", KeyStatus.ACTIVE)))
    gate, clock = FakeGate(), Clock()
    service = SeatService(
        repo, lambda: tokens, gate, issuer=ISSUER, hold_seconds=HOLD_SECONDS, max_seats_per_user=MAX_SEATS,
        clock=clock, sleep=lambda _: None,
    )  # fmt: skip
    return Wiring(ddb, repo, tokens, gate, clock, service, HoldSweeper(repo, clock))
