"""QueueApiFunction: HTTP API (payload v2.0) routes of the waiting room."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.dynamodb import dynamodb_client
from common.http import (
    json_response,
    message,
    parse_body,
    parse_path,
    register_error_handlers,
    resolve_with_correlation,
)
from common.kafka_publisher import default_publisher
from common.observability import logger, metrics, tracer
from waiting_room.dal.concerts_repo import ConcertRepository
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.dal.seats_repo import SeatRepository
from waiting_room.errors import ConcertNotFound
from waiting_room.logic.queue_service import EntryNotFound, QueueService, WrongStatus
from waiting_room.logic.status import EntryView
from waiting_room.models.api import (
    ConcertIdPath,
    ConcertResponse,
    EnterQueueRequest,
    EntryAcceptedResponse,
    EntryIdPath,
    EntryResponse,
    PutConcertRequest,
    QueueStatsResponse,
    TokenResponse,
)
from waiting_room.models.items import ConcertItem
from waiting_room.models.types import ENDED, EntryState
from waiting_room.settings import QueueApiSettings
from waiting_room.token_keys import TokenKeys

app = APIGatewayHttpResolver()
register_error_handlers(app)


class _Wiring:
    def __init__(self) -> None:
        config = QueueApiSettings.from_env()
        client = dynamodb_client()
        self.config = config
        self.keys = TokenKeys(config.token_keys)
        self.service = QueueService(
            ConcertRepository(client, config.table_name),
            EntryRepository(client, config.table_name),
            SeatRepository(client, config.table_name),
            default_publisher(),
            config.entry_topic,
        )


_wiring: _Wiring | None = None


def wiring() -> _Wiring:
    """Built at the first invocation (settings validated then) and kept while the environment lives."""
    global _wiring
    if _wiring is None:
        _wiring = _Wiring()
    return _wiring


def set_wiring(value: _Wiring | None) -> None:
    global _wiring
    _wiring = value


def _ms_to_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _concert_response(concert: ConcertItem) -> ConcertResponse:
    s = concert.settings
    return ConcertResponse(
        concertId=concert.concert_id,
        name=concert.name,
        admitPerInterval=s.admit_per_interval,
        intervalSeconds=s.interval_seconds,
        maxActive=s.max_active,
        sessionSeconds=s.session_seconds,
        heartbeatSeconds=s.heartbeat_seconds,
        opensAt=s.opens_at,
        seatCount=concert.seat_count,
        paused=concert.paused,
    )


def _entry_response(entry_id: str, view: EntryView) -> EntryResponse:
    return EntryResponse(
        entryId=entry_id,
        status=view.status,
        position=view.position,
        ahead=view.ahead,
        servingPosition=view.serving_position,
        estimatedWaitSeconds=view.estimated_wait_seconds,
        activeUntil=_ms_to_time(view.active_until_ms) if view.active_until_ms else None,
    )


@app.put("/concerts/<concertId>")
def put_concert(concertId: str) -> Response:
    concert_id = parse_path(ConcertIdPath, concertId=concertId).concertId
    request = parse_body(app, PutConcertRequest, max_bytes=2 * 1024 * 1024)
    concert, created = wiring().service.put_concert(concert_id, request)
    return json_response(HTTPStatus.CREATED if created else HTTPStatus.OK, _concert_response(concert))


@app.get("/concerts/<concertId>/queue")
def queue_stats(concertId: str) -> Response:
    concert = wiring().service.get_concert(parse_path(ConcertIdPath, concertId=concertId).concertId)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    active = concert.active_count(now_ms)
    ended_early = concert.left_active_count + concert.completed_count
    stats = QueueStatsResponse(
        concertId=concert.concert_id,
        waiting=concert.last_position - (concert.next_position - 1) - concert.left_waiting,
        active=active,
        admitted=concert.admitted_count,
        left=concert.left_count,
        abandoned=concert.abandoned_count,
        expired=concert.admitted_count - active - ended_early,
        completed=concert.completed_count,
        servingPosition=concert.next_position - 1,
        lastPosition=concert.last_position,
        paused=concert.paused,
    )
    return json_response(HTTPStatus.OK, stats)


@app.post("/concerts/<concertId>/queue/pause")
def pause(concertId: str) -> Response:
    concert = wiring().service.set_paused(parse_path(ConcertIdPath, concertId=concertId).concertId, True)
    return json_response(HTTPStatus.OK, _concert_response(concert))


@app.post("/concerts/<concertId>/queue/resume")
def resume(concertId: str) -> Response:
    concert = wiring().service.set_paused(parse_path(ConcertIdPath, concertId=concertId).concertId, False)
    return json_response(HTTPStatus.OK, _concert_response(concert))


@app.post("/concerts/<concertId>/queue")
def enter(concertId: str) -> Response:
    concert_id = parse_path(ConcertIdPath, concertId=concertId).concertId
    request = parse_body(app, EnterQueueRequest)
    entered = wiring().service.enter(concert_id, request.userId, logger.get_correlation_id())
    if entered.view is None:
        metrics.add_metric("QueueEntriesAccepted", "Count", 1)
        return json_response(HTTPStatus.ACCEPTED, EntryAcceptedResponse(entryId=entered.entry_id))
    # The user already has a live entry: the same entry and position, no second place in line.
    return json_response(HTTPStatus.OK, _entry_response(entered.entry_id, entered.view), exclude_none=True)


@app.get("/queue-entries/<entryId>")
def poll(entryId: str) -> Response:
    entry_id = parse_path(EntryIdPath, entryId=entryId).entryId
    found = wiring().service.poll(entry_id)
    if found is None:
        return json_response(HTTPStatus.ACCEPTED, EntryAcceptedResponse(entryId=entry_id))
    canonical, view = found
    return json_response(HTTPStatus.OK, _entry_response(canonical, view), exclude_none=True)


def _end(entryId: str, state: EntryState) -> Response:
    entry_id = parse_path(EntryIdPath, entryId=entryId).entryId
    view = wiring().service.end(entry_id, state)
    return json_response(HTTPStatus.OK, _entry_response(entry_id, view), exclude_none=True)


@app.delete("/queue-entries/<entryId>")
def leave(entryId: str) -> Response:
    return _end(entryId, EntryState.LEFT)


@app.post("/queue-entries/<entryId>/complete")
def complete(entryId: str) -> Response:
    return _end(entryId, EntryState.COMPLETED)


@app.post("/queue-entries/<entryId>/token")
def token(entryId: str) -> Response:
    entry_id = parse_path(EntryIdPath, entryId=entryId).entryId
    w = wiring()
    tokens = w.keys.current()

    def mint(concert_id: str, user_id: str, entry: str, position: int, expires_ms: int) -> str:
        metrics.add_metric("QueueTokensMinted", "Count", 1)
        now = datetime.now(UTC)
        return tokens.mint(
            w.config.token_issuer, concert_id, user_id, entry, position, _ms_to_time(expires_ms), now
        )

    value, expires_ms = w.service.token(entry_id, mint)
    return json_response(HTTPStatus.OK, TokenResponse(token=value, expiresAt=_ms_to_time(expires_ms)))


@app.get("/.well-known/jwks.json")
def jwks() -> Response:
    keys = wiring().keys.current().jwks()
    return json_response(HTTPStatus.OK, keys, headers={"Cache-Control": "max-age=300"})


@app.exception_handler(ConcertNotFound)
def _no_concert(error: ConcertNotFound) -> Response:
    return message(HTTPStatus.NOT_FOUND, str(error))


@app.exception_handler(EntryNotFound)
def _no_entry(error: EntryNotFound) -> Response:
    return message(HTTPStatus.NOT_FOUND, f"entry {error} not found (or not positioned yet)")


@app.exception_handler(WrongStatus)
def _wrong_status(error: WrongStatus) -> Response:
    # 409 while the entry may still get there (pending, waiting); 410 once it has ended for good.
    status = HTTPStatus.GONE if error.status in ENDED else HTTPStatus.CONFLICT
    extra: dict[str, Any] = {"status": error.status.value}
    if error.position is not None:
        extra["position"] = error.position
    return message(status, f"entry is {error.status.value}", **extra)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_with_correlation(app, event, context)
