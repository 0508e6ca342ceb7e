"""Forwarding order.completed to the data platform: retried with backoff within a budget while it is
down, the rest of the batch left for the event source once it is known down, duplicates carried by
Idempotency-Key, rejections and poison to the DLT. Against surge's real local receiver over HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from common.kafka_records import KafkaEvent
from infra.runtime.receivers import HttpReceiver
from orders.clients.data_platform import HttpDataPlatform
from orders.handlers import data_platform
from orders.logic.data_platform import DeliveryFailed, DeliveryRejected, Forwarder, RetryBudget
from tests.unit.coupons.support import FakeContext, FakePublisher
from tests.unit.orders.conftest import T0

FIXTURE = Path(__file__).resolve().parents[3] / "events" / "orders" / "data_platform_order_completed.json"


def batch_of(count: int, event_type: str = "order.completed") -> KafkaEvent:
    raw = json.loads(FIXTURE.read_text())
    (template,) = raw["records"]["order.completed-0"]
    records = []
    for n in range(count):
        envelope = json.loads(base64.b64decode(template["value"]))
        envelope["eventId"] = f"00000000-0000-4000-8000-{n:012d}"
        envelope["eventType"] = event_type
        records.append(
            {**template, "offset": n, "value": base64.b64encode(json.dumps(envelope).encode()).decode()}
        )
    raw["records"]["order.completed-0"] = records
    return KafkaEvent.model_validate(raw)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def receiver():
    running = HttpReceiver("/events").start()
    yield running
    running.stop()


def forwarder(platform: Any, clock: FakeClock, budget_s: float = 5.0) -> Forwarder:
    return Forwarder(platform, RetryBudget(budget_s=budget_s), sleep=clock.sleep, clock=lambda: clock.now)


def test_every_event_reaches_the_platform_once_keyed_by_its_event_id(receiver):
    clock = FakeClock()
    result = forwarder(HttpDataPlatform(receiver.url, 2.0), clock).forward(batch_of(3), FakePublisher(), T0)
    assert (result.delivered, result.failures, clock.sleeps) == (3, [], [])
    stats = receiver.stats(with_keys=True)
    assert stats["keys"] == [f"00000000-0000-4000-8000-{n:012d}" for n in range(3)]
    # A redelivered batch: the platform sees the same keys again and counts them as duplicates.
    forwarder(HttpDataPlatform(receiver.url, 2.0), clock).forward(batch_of(3), FakePublisher(), T0)
    assert (receiver.stats()["received"], receiver.stats()["duplicates"]) == (3, 3)


def test_a_short_outage_is_ridden_out_with_backoff_inside_the_invocation():
    clock = FakeClock()

    class FlakyPlatform:
        calls = 0

        def send(self, envelope, correlation_id):
            self.calls += 1
            if clock.now < 1.0:
                raise DeliveryFailed("503")

    platform = FlakyPlatform()
    result = forwarder(platform, clock).forward(batch_of(2), FakePublisher(), T0)
    assert (result.delivered, result.failures) == (2, [])
    assert clock.sleeps == [0.2, 0.4, 0.8] and result.retries == 3  # doubling backoff


def test_past_its_budget_the_record_and_the_rest_of_the_batch_are_left_for_redelivery(receiver):
    receiver.fail_for(60)
    clock = FakeClock()
    result = forwarder(HttpDataPlatform(receiver.url, 2.0), clock, budget_s=3.0).forward(
        batch_of(4), FakePublisher(), T0
    )
    assert result.delivered == 0 and [f.offset for f in result.failures] == [0, 1, 2, 3]
    assert sum(clock.sleeps) <= 3.0
    assert receiver.stats()["refused"] == len(clock.sleeps) + 1  # only the first record was tried
    assert "503" in (result.last_error or "")


def test_a_rejected_event_and_a_poison_record_go_to_the_dlt_and_the_rest_is_delivered():
    clock = FakeClock()

    class Platform:
        sent: list[str] = []

        def send(self, envelope, correlation_id):
            if envelope.eventId.endswith("1"):
                raise DeliveryRejected("answered 422")
            self.sent.append(envelope.eventId)

    batch = batch_of(3)
    records = batch.iter_records()
    records[2].value = base64.b64encode(b"not json").decode()
    publisher = FakePublisher()
    platform = Platform()
    result = forwarder(platform, clock).forward(batch, publisher, T0)
    assert result.failures == [] and result.delivered == 1 and result.dead_lettered == 2
    reasons = [m.json()["errorType"] for m in publisher.on("order.completed.dlt")]
    assert reasons == ["DataPlatformRejected", "InvalidJson"]


def test_other_event_types_are_not_forwarded():
    clock = FakeClock()

    class Platform:
        def send(self, envelope, correlation_id):
            raise AssertionError("must not be called")

    result = forwarder(Platform(), clock).forward(batch_of(2, "payment.completed"), FakePublisher(), T0)
    assert (result.ignored, result.failures) == (2, [])


def test_the_fixture_through_the_handler_and_a_missing_url_named(receiver, monkeypatch):
    monkeypatch.setattr(data_platform, "default_publisher", FakePublisher)
    data_platform.set_forwarder(None)
    monkeypatch.delenv("DATA_PLATFORM_URL", raising=False)
    with pytest.raises(Exception, match="DATA_PLATFORM_URL is not set"):
        data_platform.lambda_handler(json.loads(FIXTURE.read_text()), FakeContext())
    monkeypatch.setenv("DATA_PLATFORM_URL", receiver.url)
    try:
        answer = data_platform.lambda_handler(json.loads(FIXTURE.read_text()), FakeContext())
    finally:
        data_platform.set_forwarder(None)
    assert answer == {"batchItemFailures": []}
    assert receiver.stats(with_keys=True)["keys"] == ["00000000-0000-4000-8000-000000000004"]
