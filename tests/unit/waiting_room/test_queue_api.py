"""The queue API handler and the entry consumer, driven by the fixtures in events/waiting_room/ (the same
files `sam local invoke -e` and `surge invoke -e` take): status codes, bodies, tokens that verify with
the published JWKS as a third party would verify them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws

from tests.unit.coupons.support import FakeContext, FakePublisher, http_event
from tests.unit.waiting_room.seat_support import create_concerts_table, document, write_keys
from waiting_room.dal.concerts_repo import ConcertRepository
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.dal.seats_repo import SeatRepository
from waiting_room.handlers import admission, api, entries
from waiting_room.logic.admitter import Admitter
from waiting_room.logic.entry_service import EntryService
from waiting_room.logic.queue_service import QueueService
from waiting_room.logic.tokens import KeyStatus
from waiting_room.token_keys import TokenKeys

EVENTS = Path(__file__).resolve().parents[3] / "events" / "waiting_room"
TABLE = "test-concerts"
TOPIC = "queue.entry-requested"
ISSUER = "https://surge.test/queue"
API_FIXTURES = [
    "put_concert.json",
    "get_queue.json",
    "pause_queue.json",
    "resume_queue.json",
    "enter_queue.json",
    "get_entry.json",
    "get_token.json",
    "complete_entry.json",
    "leave_queue.json",
    "get_jwks.json",
]
CONSUMER_FIXTURES = ["entries_batch.json", "admission_schedule.json"]


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, FakePublisher]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    keys = write_keys(tmp_path / "keys.json", document(("k1", KeyStatus.ACTIVE)))
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CONCERTS_TABLE_NAME": TABLE,
        "QUEUE_ENTRY_TOPIC": TOPIC,
        "QUEUE_DLT_TOPIC": TOPIC + ".dlt",
        "TOKEN_KEYS": keys,
        "TOKEN_ISSUER": ISSUER,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_concerts_table(client, TABLE)
        publisher = FakePublisher()
        wiring = api._Wiring.__new__(api._Wiring)
        wiring.config = api.QueueApiSettings.from_env()
        wiring.keys = TokenKeys(keys)
        concerts, entry_repo = ConcertRepository(client, TABLE), EntryRepository(client, TABLE)
        wiring.service = QueueService(concerts, entry_repo, SeatRepository(client, TABLE), publisher, TOPIC)
        api.set_wiring(wiring)
        entries.set_service(EntryService(entry_repo, publisher, TOPIC + ".dlt"))
        yield client, publisher
        api.set_wiring(None)
        entries.set_service(None)


def http(name_or_event: str | dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = load(name_or_event) if isinstance(name_or_event, str) else name_or_event
    response = api.lambda_handler(event, FakeContext())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_every_fixture_is_covered():
    ours = set(API_FIXTURES + CONSUMER_FIXTURES)
    assert ours <= {p.name for p in EVENTS.glob("*.json")}


def test_fixtures_through_handlers(wired):
    client, publisher = wired
    status, concert = http("put_concert.json")
    assert status == 201 and concert["seatCount"] == 4 and concert["paused"] is False
    assert http("put_concert.json")[0] == 200  # settings updated, queue kept
    assert http("pause_queue.json")[1]["paused"] is True
    assert http("resume_queue.json")[1]["paused"] is False
    status, accepted = http("enter_queue.json")
    assert status == 202 and accepted["status"] == "PENDING"
    [published] = publisher.on(TOPIC)
    assert published.key == b"tour-2026" and ("correlation-id", b"req-0001") in published.headers
    assert http("get_entry.json")[0] == 202  # nothing positioned yet

    assert entries.lambda_handler(load("entries_batch.json"), FakeContext()) == {"batchItemFailures": []}
    status, entry = http("get_entry.json")
    assert status == 200 and entry["status"] == "WAITING" and entry["position"] == 1 and entry["ahead"] == 0
    status, stats = http("get_queue.json")
    assert (stats["lastPosition"], stats["waiting"], stats["active"]) == (
        2,
        2,
        0,
    )  # fan-0001 twice: one place
    status, waiting = http("get_token.json")
    assert status == 409 and waiting["status"] == "WAITING"

    Admitter(ConcertRepository(client, TABLE), EntryRepository(client, TABLE)).step("tour-2026")
    status, entry = http("get_entry.json")
    assert status == 200 and entry["status"] == "ACTIVE" and entry["activeUntil"].endswith("Z")
    status, minted = http("get_token.json")
    assert status == 200
    assert http("get_token.json")[1]["token"] == minted["token"]  # the same token on every call

    status, jwks = http("get_jwks.json")
    assert status == 200 and [k["kid"] for k in jwks["keys"]] == ["k1"]
    # A third party verifies the token with nothing but the JWKS document.
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(minted["token"], key, algorithms=["ES256"], audience="tour-2026", issuer=ISSUER)
    assert (
        claims["sub"] == "fan-0001" and claims["jti"] == "tour-2026." + "a" * 32 and claims["position"] == 1
    )
    assert claims["exp"] == int(
        datetime.fromisoformat(minted["expiresAt"].replace("Z", "+00:00")).timestamp()
    )

    assert http("complete_entry.json")[1]["status"] == "COMPLETED"
    assert http("complete_entry.json")[0] == 410
    assert http("get_token.json")[0] == 410
    assert http("leave_queue.json")[1]["status"] == "LEFT"
    status, stats = http("get_queue.json")
    assert (stats["active"], stats["completed"], stats["left"]) == (0, 1, 1)


def test_bad_input_names_the_field(wired):
    cases = [
        (
            http_event(
                "PUT", "/concerts/x", "/concerts/{concertId}", json.dumps({"name": "x"}), {"concertId": "x"}
            ),
            400,
            "admitPerInterval",
        ),
        (
            http_event(
                "PUT",
                "/concerts/x",
                "/concerts/{concertId}",
                json.dumps(
                    {"name": "x", "admitPerInterval": 1, "intervalSeconds": 0, "maxActive": 1, "seatCount": 1}
                ),
                {"concertId": "x"},
            ),
            400,
            "intervalSeconds",
        ),
        (
            http_event(
                "PUT",
                "/concerts/x",
                "/concerts/{concertId}",
                json.dumps({"name": "x", "admitPerInterval": 1, "intervalSeconds": 1, "maxActive": 1}),
                {"concertId": "x"},
            ),
            400,
            "seatCount",
        ),
        (
            http_event(
                "POST",
                "/concerts/x/queue",
                "/concerts/{concertId}/queue",
                json.dumps({"userId": "bad id"}),
                {"concertId": "x"},
            ),
            400,
            "userId",
        ),
        (
            http_event(
                "POST",
                "/concerts/none/queue",
                "/concerts/{concertId}/queue",
                json.dumps({"userId": "u1"}),
                {"concertId": "none"},
            ),
            404,
            "none",
        ),
        (
            http_event("GET", "/queue-entries/nope", "/queue-entries/{entryId}", None, {"entryId": "nope"}),
            400,
            "entryId",
        ),
        (
            http_event(
                "GET", "/concerts/none/queue", "/concerts/{concertId}/queue", None, {"concertId": "none"}
            ),
            404,
            "none",
        ),
        (
            http_event(
                "POST",
                "/concerts/none/queue/pause",
                "/concerts/{concertId}/queue/pause",
                None,
                {"concertId": "none"},
            ),
            404,
            "none",
        ),
    ]
    for event, status, field in cases:
        got, body = http(event)
        assert (got, field in body["message"]) == (status, True), (event["rawPath"], body)


def test_a_user_with_a_live_entry_gets_it_back_instead_of_a_second_place(wired):
    client, _ = wired
    http("put_concert.json")
    entries.lambda_handler(load("entries_batch.json"), FakeContext())
    Admitter(ConcertRepository(client, TABLE), EntryRepository(client, TABLE)).step("tour-2026")
    status, again = http("enter_queue.json")  # still active now: the same entry back
    assert status == 200 and again["entryId"] == "tour-2026." + "a" * 32 and again["status"] == "ACTIVE"


class TimedContext:
    """A Lambda context with the deadline the admission handler budgets against."""

    function_name = "QueueAdmissionFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:QueueAdmissionFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 70_000


def test_the_scheduled_admission_run_admits_and_stops_on_time(wired, monkeypatch):

    monkeypatch.setenv("ADMISSION_RUN_SECONDS", "0.5")
    http("put_concert.json")
    entries.lambda_handler(load("entries_batch.json"), FakeContext())
    admission._admitter = None
    started = datetime.now()
    totals = admission.lambda_handler(load("admission_schedule.json"), TimedContext())
    assert (datetime.now() - started).total_seconds() < 5
    assert totals["admitted"] == 2
    assert http("get_entry.json")[1]["status"] == "ACTIVE"
