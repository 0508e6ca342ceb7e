"""OrdersApiFunction: products, points, orders, payment, cancel, notifications (HTTP API v2.0)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from common.http import (
    json_response,
    message,
    parse_body,
    parse_path,
    register_error_handlers,
    resolve_with_correlation,
)
from common.observability import logger, tracer
from common.types import utc_now
from orders.errors import OrderError
from orders.handlers.wiring import get_repository
from orders.logic.orders import OrderService
from orders.models.api import (
    CreateOrderRequest,
    CreateProductRequest,
    Notifications,
    OrderPath,
    ProductPath,
    TopUpRequest,
    UserPath,
)

app = APIGatewayHttpResolver()
register_error_handlers(app)


def service() -> OrderService:
    return OrderService(get_repository())


def _order_id(orderId: str) -> str:
    return parse_path(OrderPath, orderId=orderId).orderId


@app.post("/products")
def create_product() -> Response:
    product = service().create_product(parse_body(app, CreateProductRequest))
    return json_response(HTTPStatus.CREATED, product)


@app.get("/products/<productId>")
def get_product(productId: str) -> Response:
    return json_response(
        HTTPStatus.OK, service().get_product(parse_path(ProductPath, productId=productId).productId)
    )


@app.post("/users/<userId>/points")
def top_up(userId: str) -> Response:
    user_id = parse_path(UserPath, userId=userId).userId
    return json_response(HTTPStatus.OK, service().top_up(user_id, parse_body(app, TopUpRequest).amount))


@app.get("/users/<userId>/points")
def get_points(userId: str) -> Response:
    return json_response(HTTPStatus.OK, service().get_points(parse_path(UserPath, userId=userId).userId))


@app.get("/users/<userId>/notifications")
def list_notifications(userId: str) -> Response:
    items = service().notifications(parse_path(UserPath, userId=userId).userId)
    return json_response(HTTPStatus.OK, Notifications(items=items))


@app.post("/orders")
def place_order() -> Response:
    order = service().place_order(parse_body(app, CreateOrderRequest), utc_now(), logger.get_correlation_id())
    body = {"orderId": order.orderId, "status": order.status.value, "total": order.total}
    return json_response(HTTPStatus.CREATED, body)


@app.get("/orders/<orderId>")
def get_order(orderId: str) -> Response:
    return json_response(HTTPStatus.OK, service().get_order(_order_id(orderId)), exclude_none=True)


@app.post("/orders/<orderId>/payment")
def pay(orderId: str) -> Response:
    order = service().pay(_order_id(orderId), utc_now(), logger.get_correlation_id())
    return json_response(HTTPStatus.OK, order, exclude_none=True)


@app.post("/orders/<orderId>/cancel")
def cancel(orderId: str) -> Response:
    order = service().cancel(_order_id(orderId), utc_now(), logger.get_correlation_id())
    return json_response(HTTPStatus.OK, order, exclude_none=True)


@app.post("/orders/<orderId>/refund")
def refund(orderId: str) -> Response:
    order = service().refund(_order_id(orderId), utc_now(), logger.get_correlation_id())
    return json_response(HTTPStatus.OK, order, exclude_none=True)


@app.exception_handler(OrderError)
def _refused(error: OrderError) -> Response:
    return message(error.status, str(error), reason=error.reason)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_with_correlation(app, event, context)
