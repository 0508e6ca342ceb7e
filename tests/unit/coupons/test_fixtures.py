"""Every fixture in events/coupons/ runs through its handler (the same files `sam local invoke -e` takes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coupons.handlers import api, issuer
from tests.unit.coupons.invariants import assert_invariants
from tests.unit.coupons.support import ISSUE_TOPIC, TABLE, FakeContext, FakePublisher

EVENTS = Path(__file__).resolve().parents[3] / "events" / "coupons"
API_FIXTURES = [
    "create_coupon.json",
    "get_coupon.json",
    "request_issue.json",
    "get_request_status.json",
    "list_user_coupons.json",
]


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_every_fixture_is_covered():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted([*API_FIXTURES, "issuer_batch.json"])


def test_fixtures_through_handlers(ddb, coupon_service, issuer_service, publisher: FakePublisher):
    def http(name: str) -> tuple[int, dict[str, Any]]:
        response = api.lambda_handler(load(name), FakeContext())
        return response["statusCode"], json.loads(response["body"])

    assert http("create_coupon.json")[0] == 201
    status, coupon = http("get_coupon.json")
    assert status == 200 and coupon["totalQuantity"] == 2
    status, accepted = http("request_issue.json")
    assert status == 202 and accepted["status"] == "PENDING"
    assert len(publisher.on(ISSUE_TOPIC)) == 1
    assert http("get_request_status.json")[0] == 202  # nothing processed yet

    batch = load("issuer_batch.json")
    assert len(batch["records"]) >= 2  # spans partitions
    assert issuer.lambda_handler(batch, FakeContext()) == {"batchItemFailures": []}
    summary = assert_invariants(ddb, TABLE)
    assert summary.issued_users["spring-sale"] == {"user-0001", "user-0002"}
    assert summary.reasons == {"ALREADY_ISSUED": 1, "SOLD_OUT": 1, "COUPON_NOT_FOUND": 1}

    status, outcome = http("get_request_status.json")
    assert status == 200 and outcome["status"] == "ISSUED"
    status, listing = http("list_user_coupons.json")
    assert status == 200 and [item["couponId"] for item in listing["items"]] == ["spring-sale"]


TEMPLATE_ROUTES = {
    "POST /coupons",
    "GET /coupons/{couponId}",
    "POST /coupons/{couponId}/issue",
    "GET /coupon-requests/{requestId}",
    "GET /users/{userId}/coupons",
}


def test_api_fixtures_cover_every_route_as_http_api_v2():
    events = [load(name) for name in API_FIXTURES]
    assert all(event["version"] == "2.0" for event in events)
    assert {event["routeKey"] for event in events} == TEMPLATE_ROUTES
