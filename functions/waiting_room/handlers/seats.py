"""SeatApiFunction: HTTP API (payload v2.0) routes for seat availability and holds, gated by the token.

The token says who the user is and that their queue entry was admitted; whether the entry is *still*
active (not left, completed, expired) is the waiting room's to say, through a `SessionGate`. That gate
is the waiting room's `ActiveSessionGate`; tests supply their own with `set_session_gate()`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.dynamodb import dynamodb_client
from common.http import (
    bearer_token,
    json_response,
    parse_path,
    register_error_handlers,
    resolve_with_correlation,
)
from common.observability import logger, metrics, tracer
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.dal.hold_payments_repo import HoldPaymentRepository
from waiting_room.dal.seats_repo import SeatRepository
from waiting_room.logic.hold_payment import HoldPaymentService
from waiting_room.logic.holds import SeatError, SeatService, SessionGate
from waiting_room.logic.session_gate import ActiveSessionGate
from waiting_room.logic.tokens import TokenRejected
from waiting_room.models.seats import (
    ConcertPath,
    Hold,
    HoldPath,
    HoldResponse,
    ReservationResponse,
    SeatPath,
    SeatResponse,
    SeatsResponse,
    SeatView,
)
from waiting_room.seat_settings import HoldPaymentSettings, SeatApiSettings
from waiting_room.token_keys import TokenKeys

app = APIGatewayHttpResolver()
register_error_handlers(app)
_service: SeatService | None = None
_session_gate: SessionGate | None = None
_payments: HoldPaymentService | None = None


def set_session_gate(gate: SessionGate | None) -> None:
    """Supply the gate that decides whether a token's queue entry is still active (drops the service)."""
    global _session_gate, _service
    _session_gate = gate
    _service = None


def session_gate_for(settings: SeatApiSettings) -> SessionGate:
    """The gate the service is built with: the one set by `set_session_gate` (tests), else the waiting
    room's own (the token's entry, read with its concert)."""
    if _session_gate is not None:
        return _session_gate
    return ActiveSessionGate(EntryRepository(dynamodb_client(), settings.table_name))


def get_service() -> SeatService:
    """Built on first use and kept for the life of the execution environment (warm invocations)."""
    global _service
    if _service is None:
        settings = SeatApiSettings.from_env()
        keys = TokenKeys(settings.token_keys)
        _service = SeatService(
            SeatRepository(dynamodb_client(), settings.table_name),
            keys.current,
            session_gate_for(settings),
            issuer=settings.token_issuer,
            hold_seconds=settings.hold_seconds,
            max_seats_per_user=settings.max_seats_per_user,
        )
    return _service


def set_service(service: SeatService | None) -> None:
    """Tests inject a service wired to moto, fixed keys and a fake gate."""
    global _service
    _service = service


def get_payments() -> HoldPaymentService:
    """Built on the first payment (its settings name the points and outbox tables too)."""
    global _payments
    if _payments is None:
        settings = HoldPaymentSettings.from_env()
        client = dynamodb_client()
        _payments = HoldPaymentService(
            SeatRepository(client, settings.table_name),
            HoldPaymentRepository(client, settings.table_name, settings.points_table, settings.outbox_table),
            TokenKeys(settings.token_keys).current,
            issuer=settings.token_issuer,
            seat_price=settings.seat_price,
        )
    return _payments


def set_payments(payments: HoldPaymentService | None) -> None:
    """Tests inject a payment service wired to moto and fixed keys."""
    global _payments
    _payments = payments


def _hold_response(hold: Hold) -> HoldResponse:
    return HoldResponse(
        holdId=hold.hold_id,
        seatId=hold.seat_id,
        concertId=hold.concert_id,
        status=hold.status,
        expiresAt=datetime.fromtimestamp(hold.expires_ms / 1000, UTC),
    )


@app.get("/concerts/<concertId>/seats")
def list_seats(concertId: str) -> Response:
    concert_id = parse_path(ConcertPath, concertId=concertId).concertId
    availability = get_service().availability(concert_id, bearer_token(app))
    metrics.add_metric("SeatListings", MetricUnit.Count, 1)
    body = SeatsResponse(
        concertId=concert_id,
        total=len(availability.seats),
        available=availability.count(SeatView.AVAILABLE),
        held=availability.count(SeatView.HELD),
        sold=availability.count(SeatView.SOLD),
        seats=[SeatResponse(seatId=seat_id, status=view) for seat_id, view in availability.seats],
    )
    return json_response(HTTPStatus.OK, body)


@app.post("/concerts/<concertId>/seats/<seatId>/hold")
def hold_seat(concertId: str, seatId: str) -> Response:
    path = parse_path(SeatPath, concertId=concertId, seatId=seatId)
    hold = get_service().hold(path.concertId, path.seatId, bearer_token(app))
    metrics.add_metric("SeatHoldsCreated", MetricUnit.Count, 1)
    logger.info(
        "seat held", extra={"holdId": hold.hold_id, "concertId": hold.concert_id, "seatId": hold.seat_id}
    )
    return json_response(HTTPStatus.CREATED, _hold_response(hold))


@app.delete("/holds/<holdId>")
def release_hold(holdId: str) -> Response:
    hold_id = parse_path(HoldPath, holdId=holdId).holdId
    hold = get_service().release(hold_id, bearer_token(app))
    metrics.add_metric("SeatHoldsReleased", MetricUnit.Count, 1)
    return json_response(HTTPStatus.OK, _hold_response(hold))


@app.post("/holds/<holdId>/payment")
def pay_hold(holdId: str) -> Response:
    hold_id = parse_path(HoldPath, holdId=holdId).holdId
    paid = get_payments().pay(hold_id, bearer_token(app), logger.get_correlation_id())
    metrics.add_metric("SeatHoldsPaid", MetricUnit.Count, 1)
    logger.info("hold paid", extra={"holdId": hold_id, "seatId": paid.hold.seat_id, "price": paid.price})
    body = ReservationResponse(
        reservationId=paid.hold.hold_id,
        holdId=paid.hold.hold_id,
        concertId=paid.hold.concert_id,
        seatId=paid.hold.seat_id,
        userId=paid.hold.user_id,
        price=paid.price,
        status=paid.hold.status,
    )
    return json_response(HTTPStatus.OK, body)


@app.exception_handler(TokenRejected)
def _token_rejected(error: TokenRejected) -> Response:
    metrics.add_metric(f"SeatTokenRejected{error.status}", MetricUnit.Count, 1)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if error.status == 401 else None
    return json_response(error.status, {"message": error.reason}, headers=headers)


@app.exception_handler(SeatError)
def _seat_error(error: SeatError) -> Response:
    metrics.add_metric(f"SeatRequestsRefused{error.status}", MetricUnit.Count, 1)
    return json_response(error.status, {"message": str(error), **error.extra})


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_with_correlation(app, event, context)
