"""Dead letters end to end: the local runtime drives the real coupon issuer (behind a switch that
fails one coupon's batches), a poison record and a transient failure both land in the DLT, `surge dlt`
finds them, and re-driving the transient one after the switch flips gets the coupon issued."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from infra.demo.coupons import wait_for_outcomes
from infra.dlt.status import add_dead_letter_counts
from infra.loadgen.http_load import Request, run_load
from infra.runtime.app import LocalRuntime
from infra.runtime.commands import format_status
from infra.template import load_template
from tests.dlt.support import end_offsets, surge
from tests.runtime.esm_helpers import wait_until
from tests.unit.coupons.invariants import assert_invariants

TEMPLATE = Path(__file__).parent / "templates" / "flaky.yaml"
SOURCE, DLT = "dlt-e2e.issue-requested", "dlt-e2e.issue-requested.dlt"
SOURCE_NAME = "CouponIssuerFunction.IssueRequests"


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    return tmp_path / "flaky-flag"


@pytest.fixture
def runtime(stack, tmp_path: Path, flag: Path) -> Iterator[LocalRuntime]:
    running = LocalRuntime(
        TEMPLATE,
        stack.endpoints,
        port=0,
        parameter_overrides={"FlakyFlagFile": str(flag)},
        state_dir=tmp_path / "runtime",
        log=lambda fid, line: None,
    )
    try:
        running.start()
        running.wait_healthy()
        yield running
    finally:
        running.stop()


def _dlt(servers: str, *args: str) -> str:
    code, out = surge("dlt", *args, "--template", str(TEMPLATE), "--bootstrap-servers", servers)
    assert code == 0, out
    return out


def _show(servers: str, reason: str) -> list[dict]:
    return [
        json.loads(line) for line in _dlt(servers, "show", DLT, "--reason", reason, "--json").splitlines()
    ]


def _dlt_size(servers: str) -> int:
    return sum(end_offsets(servers, DLT).values())


def test_poison_and_transient_failures_land_in_the_dlt_and_the_transient_one_is_redriven(runtime, ddb, flag):
    servers = runtime.endpoints.require_kafka()
    table = load_template(TEMPLATE).tables["CouponsTable"].table_name
    coupon_id = f"c-{uuid.uuid4().hex[:10]}"
    created = run_load(
        runtime.url,
        [Request("POST", "/coupons", {"couponId": coupon_id, "name": "dlt", "totalQuantity": 5})],
        1,
    )
    assert created.outcomes[0].status == 201, created.outcomes[0].body
    dlt_before = _dlt_size(servers)

    # A transient failure: the coupon's dependency is down, the request exhausts its retries.
    flag.write_text(coupon_id)
    issued = run_load(runtime.url, [Request("POST", f"/coupons/{coupon_id}/issue", {"userId": "user-1"})], 1)
    assert issued.outcomes[0].status == 202, issued.outcomes[0].body
    request_id = issued.outcomes[0].body["requestId"]
    # Dead-lettered before the poison is sent: a batch holding both would be bisected first, and
    # the bisection adds an invocation to the transient record's attempts.
    wait_until(lambda: _dlt_size(servers) >= dlt_before + 1, timeout=60)
    # A poison record: not JSON, never processable; the issuer dead-letters it itself (its key is not
    # the blocked coupon's, so the switch lets it through).
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    producer.send(SOURCE, key=b"poison", value=b"not json {").get(timeout=15)
    producer.close()
    wait_until(lambda: _dlt_size(servers) >= dlt_before + 2, timeout=60)

    listing = _dlt(servers, "list")
    assert f"{SOURCE} ({SOURCE_NAME})" in listing
    assert "condition    RetriesExhausted 1, NonRetryableError 1" in listing or (
        "condition    NonRetryableError 1, RetriesExhausted 1" in listing
    ), listing
    assert "InvalidJson 1" in listing and "Unhandled 1" in listing, listing
    assert "record value is not valid JSON" in listing, listing

    [transient] = _show(servers, "RetriesExhausted")
    assert transient["format"] == "aws" and transient["attempts"] == 2
    assert transient["value"]["json"]["requestId"] == request_id
    [poison] = _show(servers, "InvalidJson")
    assert poison["format"] == "surge" and base64.b64decode(poison["value"]["base64"]) == b"not json {"
    assert poison["source"]["topic"] == SOURCE

    status = runtime.status()
    add_dead_letter_counts(status)
    assert status["sources"][SOURCE_NAME]["dlt_messages"] == dlt_before + 2
    assert f"dlt_messages={dlt_before + 2}" in format_status(status)

    # The dependency is back: re-driving the transient one issues the coupon.
    flag.unlink()
    out = _dlt(servers, "redrive", DLT, "--reason", "RetriesExhausted")
    assert "sent         1" in out, out
    outcomes, _ = wait_for_outcomes(ddb, table, [request_id], 60, 0)
    assert outcomes[request_id]["status"] == "ISSUED", outcomes
    summary = assert_invariants(ddb, table, expected_request_ids=[request_id])
    assert summary.issued_count(coupon_id) == 1

    # The poison keeps failing: re-driven twice (it comes back each time), then the loop guard skips it.
    for round_ in (1, 2):
        size = _dlt_size(servers)
        out = _dlt(servers, "redrive", DLT, "--reason", "InvalidJson", "--max-redrives", "2")
        assert "sent         1" in out, (round_, out)
        wait_until(lambda: _dlt_size(servers) > size, timeout=60)  # noqa: B023 (called at once)
    assert [p["redriveCount"] for p in _show(servers, "InvalidJson")] == [0, 1, 2]
    out = _dlt(servers, "redrive", DLT, "--reason", "InvalidJson", "--max-redrives", "2")
    assert "sent         0" in out and "loop guard: re-driven 2 times already" in out, out
    assert_invariants(ddb, table, expected_request_ids=[request_id])
