"""CouponApiFunction: HTTP API (payload v2.0) routes. Parse, call the service, shape the response."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from common.dynamodb import dynamodb_client
from common.kafka_publisher import PublishError, default_publisher
from common.observability import logger
from coupons import settings
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

MAX_BODY_BYTES = 16 * 1024

app = APIGatewayHttpResolver()
_service: CouponService | None = None

Model = TypeVar("Model", bound=BaseModel)


def get_service() -> CouponService:
    """Built on first use and kept for the life of the execution environment (warm invocations)."""
    global _service
    if _service is None:
        repository = CouponRepository(dynamodb_client(), settings.table_name())
        _service = CouponService(repository, default_publisher(), settings.issue_topic())
    return _service


def set_service(service: CouponService | None) -> None:
    """Tests inject a service wired to moto and a fake publisher."""
    global _service
    _service = service


class ApiError(ServiceError):
    pass


def _json(status: int, body: BaseModel | dict[str, Any], *, exclude_none: bool = False) -> Response:
    payload = body.model_dump_json(exclude_none=exclude_none) if isinstance(body, BaseModel) else body
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=payload)


def _message(status: int, message: str) -> Response:
    return _json(status, {"message": message})


def _describe(error: ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in detail["loc"])
        msg = detail["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {msg}" if field else msg)
    return "invalid request: " + "; ".join(parts)


def _body(model: type[Model]) -> Model:
    raw = app.current_event.decoded_body or ""
    encoded = raw.encode() if isinstance(raw, str) else raw
    if len(encoded) > MAX_BODY_BYTES:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body exceeds {MAX_BODY_BYTES} bytes")
    if not encoded.strip():
        raise ApiError(HTTPStatus.BAD_REQUEST, "request body is required (JSON object)")
    try:
        return model.model_validate_json(encoded)
    except ValidationError as exc:
        if any(detail["type"] == "json_invalid" for detail in exc.errors()):
            raise ApiError(HTTPStatus.BAD_REQUEST, "request body is not valid JSON") from exc
        raise


def _path(model: type[Model], **params: str) -> Model:
    return model.model_validate(params)


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
    request = _body(CreateCouponRequest)
    coupon = get_service().create_coupon(request)
    return _json(HTTPStatus.CREATED, _coupon_response(coupon))


@app.get("/coupons/<couponId>")
def get_coupon(couponId: str) -> Response:
    coupon_id = _path(CouponIdPath, couponId=couponId).couponId
    coupon = get_service().get_coupon(coupon_id)
    if coupon is None:
        return _message(HTTPStatus.NOT_FOUND, f"coupon {coupon_id!r} not found")
    return _json(HTTPStatus.OK, _coupon_response(coupon))


@app.post("/coupons/<couponId>/issue")
def request_issue(couponId: str) -> Response:
    coupon_id = _path(CouponIdPath, couponId=couponId).couponId
    request = _body(IssueCouponRequest)
    # No table read here: unknown coupons are rejected by the issuer (COUPON_NOT_FOUND); one round trip.
    event = get_service().request_issue(coupon_id, request.userId)
    return _json(HTTPStatus.ACCEPTED, IssueAcceptedResponse(requestId=event.requestId))


@app.get("/coupon-requests/<requestId>")
def get_request_status(requestId: str) -> Response:
    request_id: UUID = _path(RequestIdPath, requestId=requestId).requestId
    outcome = get_service().get_outcome(request_id)
    if outcome is None:
        pending = RequestStatusResponse(requestId=request_id, status=RequestStatus.PENDING)
        return _json(HTTPStatus.ACCEPTED, pending, exclude_none=True)
    # Only the fields that apply: no `reason` on ISSUED, no `issuedAt` on REJECTED.
    return _json(HTTPStatus.OK, _status_response(outcome), exclude_none=True)


@app.get("/users/<userId>/coupons")
def list_user_coupons(userId: str) -> Response:
    user_id = _path(UserIdPath, userId=userId).userId
    items = [
        UserCouponResponse(
            couponId=item.coupon_id, userId=item.user_id, requestId=item.request_id, issuedAt=item.issued_at
        )
        for item in get_service().list_user_coupons(user_id)
    ]
    return _json(HTTPStatus.OK, UserCouponsResponse(items=items))


@app.exception_handler(ValidationError)
def _invalid(error: ValidationError) -> Response:
    return _message(HTTPStatus.BAD_REQUEST, _describe(error))


@app.exception_handler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    message = error.msg if isinstance(error.msg, str) else str(error.msg)
    if error.status_code == HTTPStatus.NOT_FOUND and message == "Not found":
        message = f"no route for {app.current_event.http_method} {app.current_event.path}"
    return _message(error.status_code, message)


@app.exception_handler(CouponAlreadyExists)
def _conflict(error: CouponAlreadyExists) -> Response:
    return _message(HTTPStatus.CONFLICT, str(error))


@app.exception_handler(PublishError)
def _broker_unavailable(error: PublishError) -> Response:
    logger.warning("issue request not published", extra={"error": str(error)})
    return _message(HTTPStatus.SERVICE_UNAVAILABLE, "could not accept the request right now, retry later")


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return _message(HTTPStatus.INTERNAL_SERVER_ERROR, "internal server error")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
