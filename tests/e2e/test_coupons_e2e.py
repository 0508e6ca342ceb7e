"""Coupons end to end: the HTTP API, Kafka, the local runtime's event source mapping, the issuer and
DynamoDB Local, all real. Each test checks the four invariants on the table afterwards."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

from kafka import KafkaConsumer, KafkaProducer

from infra.demo.coupons import plan_requests, wait_for_outcomes
from infra.demo.verify import read_coupon
from infra.loadgen.http_load import Request, run_load
from infra.template import load_template
from tests.conftest import TEMPLATE
from tests.e2e.conftest import TEMPLATES
from tests.unit.coupons.invariants import assert_invariants


def _table(template=TEMPLATE) -> str:
    return load_template(template).tables["CouponsTable"].table_name


def _create_coupon(url: str, stock: int) -> str:
    coupon_id = f"c-{uuid.uuid4().hex[:10]}"
    created = run_load(
        url, [Request("POST", "/coupons", {"couponId": coupon_id, "name": "e2e", "totalQuantity": stock})], 1
    )
    assert created.outcomes[0].status == 201, created.outcomes[0].body
    return coupon_id


def _surge(url: str, coupon_id: str, requests: int, users: int, concurrency: int = 24) -> dict[str, str]:
    load = run_load(url, plan_requests(coupon_id, requests, users, seed=11), concurrency)
    assert load.by_status() == {202: requests}, load.by_status()
    return {o.body["requestId"]: o.request.tag for o in load.outcomes}


def _settle(ddb, table, coupon_id, accepted, stock, users, runtimes=(), timeout=240.0):
    outcomes, _ = wait_for_outcomes(ddb, table, list(accepted), timeout, 0)
    consumers = [r.status()["sources"]["CouponIssuerFunction.IssueRequests"] for r in runtimes]
    assert len(outcomes) == len(accepted), (
        f"{len(accepted) - len(outcomes)} requests never became terminal; consumers: {consumers}"
    )
    coupon = read_coupon(ddb, table, coupon_id)
    issued = {rid for rid, o in outcomes.items() if o["status"] == "ISSUED"}
    assert len(issued) == min(stock, users) == coupon.issued_quantity == len(coupon.holders)
    assert coupon.duplicates == 0
    issued_users = Counter(accepted[rid] for rid in issued)
    assert max(issued_users.values()) == 1, "a user got the coupon twice"
    assert_invariants(ddb, table, expected_request_ids=accepted)
    return outcomes


def test_a_surge_through_the_http_api_issues_exactly_the_stock(start_runtime, ddb):
    runtime = start_runtime()
    coupon_id = _create_coupon(runtime.url, 300)
    accepted = _surge(runtime.url, coupon_id, requests=2000, users=500)
    outcomes = _settle(ddb, _table(), coupon_id, accepted, stock=300, users=500)

    reasons = Counter(o["reason"] for o in outcomes.values() if o["status"] == "REJECTED")
    assert set(reasons) <= {"SOLD_OUT", "ALREADY_ISSUED"}
    # What clients poll says the same as the table, for every request.
    polled = run_load(runtime.url, [Request("GET", f"/coupon-requests/{rid}") for rid in accepted], 16)
    for outcome in polled.outcomes:
        rid = outcome.request.path.rsplit("/", 1)[1]
        assert outcome.status == 200
        assert outcome.body["status"] == outcomes[rid]["status"]
        assert outcome.body.get("reason") == outcomes[rid]["reason"]
    coupon = run_load(runtime.url, [Request("GET", f"/coupons/{coupon_id}")], 1).outcomes[0]
    assert coupon.body["issuedQuantity"] == 300


def test_invariants_hold_when_the_issuer_fails_at_random_mid_batch(start_runtime, ddb):
    template = TEMPLATES / "chaos.yaml"
    runtime = start_runtime(template)
    coupon_id = _create_coupon(runtime.url, 300)
    accepted = _surge(runtime.url, coupon_id, requests=2000, users=500)
    _settle(ddb, _table(template), coupon_id, accepted, stock=300, users=500, timeout=300)
    kafka = runtime.status()["sources"]["CouponIssuerFunction.IssueRequests"]
    assert kafka["retries"] > 0, "the chaos issuer never failed: the test proved nothing"


def test_invariants_hold_with_two_runtimes_in_one_consumer_group(start_runtime, ddb):
    template = TEMPLATES / "race.yaml"
    first = start_runtime(template)
    coupon_id = _create_coupon(first.url, 300)
    # The second runtime joins while the surge is being consumed: partitions move between them
    # (a rebalance), and records in flight on the old owner are read again by the new one.
    runtimes = [first]
    joiner = threading.Timer(0.5, lambda: runtimes.append(start_runtime(template)))
    joiner.start()
    accepted = _surge(first.url, coupon_id, requests=2000, users=500)
    joiner.join()
    _settle(ddb, _table(template), coupon_id, accepted, stock=300, users=500, runtimes=runtimes, timeout=60)


def test_bad_input_gets_a_4xx_with_a_message(start_runtime):
    runtime = start_runtime()
    coupon_id = _create_coupon(runtime.url, 10)
    cases = [
        (Request("POST", f"/coupons/{coupon_id}/issue", {}), 400, "userId"),
        (Request("POST", f"/coupons/{coupon_id}/issue", {"userId": 42}), 400, "userId"),
        (Request("POST", f"/coupons/{coupon_id}/issue", {"userId": "bad id!"}), 400, "userId"),
        (Request("POST", f"/coupons/{coupon_id}/issue", {"userId": "u" * 20_000}), 413, ""),
        (Request("POST", "/coupons", {"name": "x", "totalQuantity": "many"}), 400, "totalQuantity"),
        (Request("GET", "/coupons/does-not-exist"), 404, ""),
        (Request("GET", "/coupon-requests/not-a-uuid"), 400, "requestId"),
    ]
    result = run_load(runtime.url, [request for request, _, _ in cases], 1)
    by_request = {id(o.request): o for o in result.outcomes}
    for request, status, field in cases:
        outcome = by_request[id(request)]
        assert outcome.status == status, (request, outcome.body)
        assert outcome.body["message"], outcome.body
        assert field in outcome.body["message"], (request, outcome.body)


def test_a_poison_record_is_dead_lettered_and_its_partition_moves_on(start_runtime, stack, ddb):
    runtime = start_runtime()
    coupon_id = _create_coupon(runtime.url, 5)
    servers = stack.endpoints.require_kafka()
    topic = "coupon.issue-requested"
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    # Same key = same partition: the poison record sits right in front of good ones.
    producer.send(topic, key=coupon_id.encode(), value=b"{not json")
    good = []
    for i in range(3):
        rid = str(uuid.uuid4())
        good.append(rid)
        value = {
            "requestId": rid,
            "couponId": coupon_id,
            "userId": f"after-poison-{i}",
            "requestedAt": "2026-01-01T00:00:00Z",
        }
        producer.send(topic, key=coupon_id.encode(), value=json.dumps(value).encode())
    producer.flush()
    producer.close()

    outcomes, _ = wait_for_outcomes(ddb, _table(), good, 60, 0)
    assert {o["status"] for o in outcomes.values()} == {"ISSUED"}, (
        "records behind the poison one were blocked"
    )

    consumer = KafkaConsumer(
        "coupon.issue-requested.dlt",
        bootstrap_servers=servers,
        group_id=f"dlt-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    dead = [json.loads(m.value) for m in consumer if m.key == coupon_id.encode()]
    consumer.close()
    assert len(dead) == 1
    assert dead[0]["reason"] and "JSON" in dead[0]["reason"].upper() + dead[0]["errorType"].upper()
    (records,) = dead[0]["payload"]["records"].values()
    assert records[0]["value"] == "e25vdCBqc29u"  # base64 of the original bytes, nothing lost


def test_coupons_sharing_a_partition_are_settled_together_in_one_batch(start_runtime, stack, ddb):
    runtime = start_runtime()
    coupons = {_create_coupon(runtime.url, 40): 40 for _ in range(3)}
    producer = KafkaProducer(bootstrap_servers=stack.endpoints.require_kafka(), acks="all")
    accepted: dict[str, dict[str, str]] = {coupon: {} for coupon in coupons}
    for i in range(300):
        coupon = list(coupons)[i % 3]
        rid = str(uuid.uuid4())
        accepted[coupon][rid] = f"user-{i // 3 % 60}"  # 60 users per coupon, some asking twice
        value = {
            "requestId": rid,
            "couponId": coupon,
            "userId": accepted[coupon][rid],
            "requestedAt": "2026-01-01T00:00:00Z",
        }
        # One partition for all three coupons, so each batch holds several coupon groups.
        producer.send(
            "coupon.issue-requested", key=coupon.encode(), value=json.dumps(value).encode(), partition=0
        )
    producer.flush()
    producer.close()
    for coupon, stock in coupons.items():
        _settle(ddb, _table(), coupon, accepted[coupon], stock=stock, users=60)
