"""HTTP helpers every API function shares: JSON responses, body and path parsing, error mapping.

Bodies are validated with pydantic's `model_validate_json` on the raw bytes rather than with the event
handler's `enable_validation`: that validates the decoded dict, where strict models would reject ISO
datetimes and the JSON-vs-schema distinction (400 "not valid JSON" vs 400 naming the field) is lost.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from pydantic import BaseModel, ValidationError

from common import correlation
from common.kafka_publisher import PublishError
from common.observability import logger
from common.settings import ConfigError

MAX_BODY_BYTES = 16 * 1024

Model = TypeVar("Model", bound=BaseModel)


class ApiError(ServiceError):
    """Raise from a route to answer `status_code` with {"message": msg} (plus `extra` fields)."""

    def __init__(self, status_code: int, msg: str, **extra: Any) -> None:
        super().__init__(status_code, msg)
        self.extra = extra


def json_response(
    status: int,
    body: BaseModel | dict[str, Any],
    *,
    exclude_none: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    payload = body.model_dump_json(exclude_none=exclude_none) if isinstance(body, BaseModel) else body
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=payload, headers=headers
    )


def message(status: int, text: str, /, **extra: Any) -> Response:
    return json_response(status, {"message": text, **extra})


def describe_validation_error(error: ValidationError, *, prefix: str = "invalid request: ") -> str:
    """One line naming every failing field: `seatCount: Input should be greater than 0; name: ...`."""
    parts = []
    for detail in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in detail["loc"])
        msg = detail["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {msg}" if field else msg)
    return prefix + "; ".join(parts)


def parse_body(app: APIGatewayHttpResolver, model: type[Model], *, max_bytes: int = MAX_BODY_BYTES) -> Model:
    """The request body as `model`: 413 past `max_bytes`, 400 when missing, not JSON, or invalid."""
    raw = app.current_event.decoded_body or ""
    encoded = raw.encode() if isinstance(raw, str) else raw
    if len(encoded) > max_bytes:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body exceeds {max_bytes} bytes")
    if not encoded.strip():
        raise ApiError(HTTPStatus.BAD_REQUEST, "request body is required (JSON object)")
    try:
        return model.model_validate_json(encoded)
    except ValidationError as exc:
        if any(detail["type"] == "json_invalid" for detail in exc.errors()):
            raise ApiError(HTTPStatus.BAD_REQUEST, "request body is not valid JSON") from exc
        raise


def parse_path(model: type[Model], **params: str) -> Model:
    """Path parameters as `model`; a ValidationError becomes a 400 naming the parameter."""
    return model.model_validate(params)


def bearer_token(app: APIGatewayHttpResolver) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when absent or another scheme."""
    header = app.current_event.headers.get("authorization") or app.current_event.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """The error mapping every API shares; capability-specific errors get their own handlers."""

    @app.exception_handler(ValidationError)
    def _invalid(error: ValidationError) -> Response:
        return message(HTTPStatus.BAD_REQUEST, describe_validation_error(error))

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        text = error.msg if isinstance(error.msg, str) else str(error.msg)
        if error.status_code == HTTPStatus.NOT_FOUND and text == "Not found":
            text = f"no route for {app.current_event.http_method} {app.current_event.path}"
        return message(error.status_code, text, **getattr(error, "extra", {}))

    @app.exception_handler(PublishError)
    def _broker_unavailable(error: PublishError) -> Response:
        logger.warning("request not published", extra={"error": str(error)})
        return message(HTTPStatus.SERVICE_UNAVAILABLE, "could not accept the request right now, retry later")

    @app.exception_handler(ConfigError)
    def _misconfigured(error: ConfigError) -> Response:
        # Not an answer to this request: the function is broken until its environment is fixed, so the
        # invocation fails (API Gateway answers 502) with the message naming the variables.
        raise error

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return message(HTTPStatus.INTERNAL_SERVER_ERROR, "internal server error")


def resolve_with_correlation(
    app: APIGatewayHttpResolver, event: dict[str, Any], context: Any
) -> dict[str, Any]:
    """Route the event with the request's correlation id (taken from the `x-correlation-id` header or made
    here) set on the logger, and return it in the response's header so a client can quote it."""
    correlation_id = correlation.from_http_event(event)
    logger.set_correlation_id(correlation_id)
    response: dict[str, Any] = app.resolve(event, context)
    response.setdefault("headers", {})[correlation.HTTP_HEADER] = correlation_id
    return response
