"""The HTTP API handler: routes, status codes, bodies, validation messages."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from common.kafka_records import KafkaEvent
from coupons.handlers import api
from coupons.models.events import IssueRequested
from tests.unit.coupons.support import ISSUE_TOPIC, FakeContext, FakePublisher, event_for, http_event


def call(method: str, path: str, route: str, body: Any = None, **params: str) -> tuple[int, dict[str, Any]]:
    raw = body if (body is None or isinstance(body, str)) else json.dumps(body)
    response = api.lambda_handler(http_event(method, path, route, raw, params or None), FakeContext())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def create(body: Any) -> tuple[int, dict[str, Any]]:
    return call("POST", "/coupons", "/coupons", body)


def get_coupon(coupon_id: str) -> tuple[int, dict[str, Any]]:
    return call("GET", f"/coupons/{coupon_id}", "/coupons/{couponId}", couponId=coupon_id)


def request_issue(coupon_id: str, body: Any) -> tuple[int, dict[str, Any]]:
    return call("POST", f"/coupons/{coupon_id}/issue", "/coupons/{couponId}/issue", body, couponId=coupon_id)


def request_status(request_id: str) -> tuple[int, dict[str, Any]]:
    return call("GET", f"/coupon-requests/{request_id}", "/coupon-requests/{requestId}", requestId=request_id)


def user_coupons(user_id: str) -> tuple[int, dict[str, Any]]:
    return call("GET", f"/users/{user_id}/coupons", "/users/{userId}/coupons", userId=user_id)


pytestmark = pytest.mark.usefixtures("coupon_service")


def test_create_and_get_coupon():
    status, body = create(
        {"couponId": "spring", "name": "Spring", "totalQuantity": 10, "startsAt": "2026-05-01T09:00:00+09:00"}
    )
    assert status == 201
    assert body["couponId"] == "spring" and body["issuedQuantity"] == 0 and body["remainingQuantity"] == 10
    assert body["startsAt"] == "2026-05-01T00:00:00.000Z"  # normalised to UTC
    status, fetched = get_coupon("spring")
    assert status == 200
    assert fetched == body
    assert body["endsAt"] is None


def test_create_generates_an_id_and_rejects_duplicates():
    status, body = create({"name": "Anon", "totalQuantity": 1})
    assert status == 201 and uuid.UUID(body["couponId"])
    assert create({"couponId": "dup", "name": "A", "totalQuantity": 1})[0] == 201
    status, body = create({"couponId": "dup", "name": "B", "totalQuantity": 2})
    assert status == 409 and "dup" in body["message"]


@pytest.mark.parametrize(
    ("supplied", "expected"),
    [
        ("order-42.retry:1", "order-42.retry:1"),
        ("bad id\nforged-log-line", "req-0001"),
        ("x" * 129, "req-0001"),
    ],
)
def test_correlation_id_from_the_caller_reaches_kafka_and_the_response(publisher, supplied, expected):
    event = http_event(
        "POST",
        "/coupons/spring/issue",
        "/coupons/{couponId}/issue",
        '{"userId": "alice"}',
        {"couponId": "spring"},
    )
    event["headers"]["x-correlation-id"] = supplied
    response = api.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 202
    assert response["headers"]["x-correlation-id"] == expected
    [message] = publisher.on(ISSUE_TOPIC)
    assert ("correlation-id", expected.encode()) in message.headers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"totalQuantity": 1}, "name"),
        ({"name": "x", "totalQuantity": "5"}, "totalQuantity"),
        ({"name": "x", "totalQuantity": 0}, "totalQuantity"),
        ({"name": "x", "totalQuantity": 10_000_001}, "totalQuantity"),
        ({"name": "x", "totalQuantity": True}, "totalQuantity"),
        ({"name": "x", "totalQuantity": 1, "couponId": "has space"}, "couponId"),
        ({"name": "x", "totalQuantity": 1, "startsAt": "yesterday"}, "startsAt"),
        ({"name": "x", "totalQuantity": 1, "startsAt": "2026-05-01T00:00:00"}, "startsAt"),  # no timezone
        (
            {
                "name": "x",
                "totalQuantity": 1,
                "startsAt": "2026-05-02T00:00:00Z",
                "endsAt": "2026-05-01T00:00:00Z",
            },
            "endsAt",
        ),
        ({"name": "x", "totalQuantity": 1, "colour": "red"}, "colour"),
        ([1, 2], "object"),
    ],
)
def test_create_rejects_bad_bodies_naming_the_field(body, field):
    status, response = create(body)
    assert status == 400
    assert field in response["message"]


def test_bad_json_empty_and_huge_bodies():
    assert create("{nope")[1] == {"message": "request body is not valid JSON"}
    assert create("{nope")[0] == 400
    assert create(None)[0] == 400
    status, body = create(json.dumps({"name": "x" * 20_000, "totalQuantity": 1}))
    assert status == 413 and "16384" in body["message"]


def test_get_coupon_unknown_and_malformed():
    status, body = get_coupon("missing")
    assert status == 404 and "missing" in body["message"]
    status, body = get_coupon("bad%20id")
    assert status == 400 and "couponId" in body["message"]


def test_request_issue_publishes_then_answers_202(publisher: FakePublisher):
    status, body = request_issue("spring", {"userId": "alice"})
    assert status == 202 and body["status"] == "PENDING"
    [message] = publisher.on(ISSUE_TOPIC)
    assert message.key == b"spring"
    # The API Gateway request id is the correlation id when the caller sent none.
    assert message.headers == [("content-type", b"application/json"), ("correlation-id", b"req-0001")]
    value = message.json()
    assert value["requestId"] == body["requestId"]
    assert value["couponId"] == "spring" and value["userId"] == "alice"
    assert value["requestedAt"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "userId"),
        ({"userId": 42}, "userId"),
        ({"userId": "a/b"}, "userId"),
        ({"userId": "x" * 65}, "userId"),
    ],
)
def test_request_issue_rejects_bad_input(publisher: FakePublisher, body, field):
    status, response = request_issue("spring", body)
    assert status == 400 and field in response["message"]
    assert publisher.sent == []


def test_request_issue_bad_coupon_id_and_huge_body(publisher: FakePublisher):
    assert request_issue("no*pe", {"userId": "a"})[0] == 400
    assert request_issue("spring", json.dumps({"userId": "a", "pad": "x" * 17_000}))[0] == 413
    assert publisher.sent == []


def test_request_issue_broker_down_is_503(publisher: FakePublisher):
    publisher.failing.add(ISSUE_TOPIC)
    status, body = request_issue("spring", {"userId": "alice"})
    assert status == 503 and body["message"]


def test_request_status_pending_then_final(publisher: FakePublisher, issuer_service):
    create({"couponId": "one", "name": "One", "totalQuantity": 1})
    _, first = request_issue("one", {"userId": "alice"})
    _, second = request_issue("one", {"userId": "bob"})
    assert request_status(first["requestId"]) == (202, {"requestId": first["requestId"], "status": "PENDING"})

    requests = [IssueRequested.model_validate_json(m.value) for m in publisher.on(ISSUE_TOPIC)]
    assert issuer_service.process(KafkaEvent.model_validate(event_for(requests))).failures == []

    status, issued = request_status(first["requestId"])
    assert status == 200
    assert issued["status"] == "ISSUED" and issued["couponId"] == "one" and issued["userId"] == "alice"
    assert issued["issuedAt"] and "reason" not in issued
    status, rejected = request_status(second["requestId"])
    assert status == 200 and rejected["status"] == "REJECTED" and rejected["reason"] == "SOLD_OUT"

    status, listing = user_coupons("alice")
    assert status == 200
    assert [(i["couponId"], i["requestId"]) for i in listing["items"]] == [("one", first["requestId"])]
    assert user_coupons("bob") == (200, {"items": []})
    assert get_coupon("one")[1]["remainingQuantity"] == 0


def test_request_status_malformed_id():
    status, body = request_status("not-a-uuid")
    assert status == 400 and "requestId" in body["message"]


def test_user_coupons_malformed_id():
    assert user_coupons("bad user")[0] == 400


def test_unknown_route_is_404():
    status, body = call("GET", "/nope", "/nope")
    assert status == 404 and body["message"]


def test_unexpected_error_is_generic_500(monkeypatch):
    def boom(_coupon_id):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(api.get_service(), "get_coupon", boom)
    status, body = get_coupon("spring")
    assert status == 500 and body == {"message": "internal server error"}
