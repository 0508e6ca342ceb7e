"""CouponApiFunction: HTTP API (payload v2.0) routes. Parse, call the service, shape the response."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from uuid import UUID

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
from common.observability import logger, tracer
from coupons.dal.coupons_repo import CouponRepository
from coupons.errors import CouponAlreadyExists
from coupons.logic.coupons import CouponService
from coupons.models.api import (
    CouponIdPath,
    CouponResponse,
    CreateCouponRequest,
    IssueAcceptedResponse,
    IssueCouponRequest,
    RequestIdPath,
    RequestStatusResponse,
    UserCouponResponse,
    UserCouponsResponse,
    UserIdPath,
)
from coupons.models.items import CouponItem, RequestOutcomeItem
from coupons.models.types import RequestStatus
from coupons.settings import CouponApiSettings

app = APIGatewayHttpResolver()
register_error_handlers(app)
_service: CouponService | None = None


def get_service() -> CouponService:
    """Built on first use and kept for the life of the execution environment (warm invocations)."""
    global _service
    if _service is None:
        config = CouponApiSettings.from_env()
        repository = CouponRepository(dynamodb_client(), config.table_name)
        _service = CouponService(repository, default_publisher(), config.issue_topic)
    return _service


def set_service(service: CouponService | None) -> None:
    """Tests inject a service wired to moto and a fake publisher."""
    global _service
    _service = service


def _coupon_response(coupon: CouponItem) -> CouponResponse:
    return CouponResponse(
        couponId=coupon.coupon_id,
        name=coupon.name,
        totalQuantity=coupon.total_quantity,
        issuedQuantity=coupon.issued_quantity,
        remainingQuantity=coupon.remaining_quantity,
        startsAt=coupon.starts_at,
        endsAt=coupon.ends_at,
        createdAt=coupon.created_at,
    )


def _status_response(outcome: RequestOutcomeItem) -> RequestStatusResponse:
    issued = outcome.status is RequestStatus.ISSUED
    return RequestStatusResponse(
        requestId=outcome.request_id,
        status=outcome.status,
        couponId=outcome.coupon_id,
        userId=outcome.user_id,
        reason=outcome.reason,
        requestedAt=outcome.requested_at,
        processedAt=outcome.processed_at,
        issuedAt=outcome.processed_at if issued else None,
    )


@app.post("/coupons")
def create_coupon() -> Response:
    request = parse_body(app, CreateCouponRequest)
    coupon = get_service().create_coupon(request)
    return json_response(HTTPStatus.CREATED, _coupon_response(coupon))


@app.get("/coupons/<couponId>")
def get_coupon(couponId: str) -> Response:
    coupon_id = parse_path(CouponIdPath, couponId=couponId).couponId
    coupon = get_service().get_coupon(coupon_id)
    if coupon is None:
        return message(HTTPStatus.NOT_FOUND, f"coupon {coupon_id!r} not found")
    return json_response(HTTPStatus.OK, _coupon_response(coupon))


@app.post("/coupons/<couponId>/issue")
def request_issue(couponId: str) -> Response:
    coupon_id = parse_path(CouponIdPath, couponId=couponId).couponId
    request = parse_body(app, IssueCouponRequest)
    # No table read here: unknown coupons are rejected by the issuer (COUPON_NOT_FOUND); one round trip.
    event = get_service().request_issue(coupon_id, request.userId, logger.get_correlation_id())
    return json_response(HTTPStatus.ACCEPTED, IssueAcceptedResponse(requestId=event.requestId))


@app.get("/coupon-requests/<requestId>")
def get_request_status(requestId: str) -> Response:
    request_id: UUID = parse_path(RequestIdPath, requestId=requestId).requestId
    outcome = get_service().get_outcome(request_id)
    if outcome is None:
        pending = RequestStatusResponse(requestId=request_id, status=RequestStatus.PENDING)
        return json_response(HTTPStatus.ACCEPTED, pending, exclude_none=True)
    # Only the fields that apply: no `reason` on ISSUED, no `issuedAt` on REJECTED.
    return json_response(HTTPStatus.OK, _status_response(outcome), exclude_none=True)


@app.get("/users/<userId>/coupons")
def list_user_coupons(userId: str) -> Response:
    user_id = parse_path(UserIdPath, userId=userId).userId
    items = [
        UserCouponResponse(
            couponId=item.coupon_id, userId=item.user_id, requestId=item.request_id, issuedAt=item.issued_at
        )
        for item in get_service().list_user_coupons(user_id)
    ]
    return json_response(HTTPStatus.OK, UserCouponsResponse(items=items))


@app.exception_handler(CouponAlreadyExists)
def _conflict(error: CouponAlreadyExists) -> Response:
    return message(HTTPStatus.CONFLICT, str(error))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_with_correlation(app, event, context)
