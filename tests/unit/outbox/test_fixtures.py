"""Every fixture in events/outbox/ runs through its handler: the relay publishes the stream batch's
item, the confirmer marks it PUBLISHED, the sweeper (with the item stale) republishes it first."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from common.outbox.confirmer import Confirmer
from common.outbox.handlers import confirmer, relay, sweeper
from common.outbox.relay import Relay
from common.outbox.sweeper import Sweeper, SweepPolicy
from tests.unit.coupons.support import FakeContext, FakePublisher
from tests.unit.outbox.conftest import OUTBOX

EVENTS = Path(__file__).resolve().parents[3] / "events" / "outbox"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_every_fixture_is_covered():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == [
        "confirm_batch.json",
        "relay_stream_batch.json",
        "sweeper_schedule.json",
    ]


@pytest.fixture
def wired(ddb, store, publisher: FakePublisher, monkeypatch):
    monkeypatch.setattr(relay, "_relay", Relay(publisher))
    monkeypatch.setattr(confirmer, "_confirmer", Confirmer(store))
    policy = SweepPolicy(timedelta(seconds=1), timedelta(seconds=30), 5, "ops.alert")
    monkeypatch.setattr(sweeper, "_sweeper", Sweeper(store, publisher, policy))


def test_fixtures_through_handlers(ddb, wired, publisher: FakePublisher):
    batch = load("relay_stream_batch.json")
    ddb.put_item(TableName=OUTBOX, Item=batch["Records"][0]["dynamodb"]["NewImage"])
    summary = sweeper.lambda_handler(load("sweeper_schedule.json"), FakeContext())
    assert summary["republished"] == 1  # the fixture's item is from 2026-12-01: stale
    assert relay.lambda_handler(batch, FakeContext()) == {"batchItemFailures": []}
    sent = publisher.on("order.created")
    assert len(sent) == 2 and sent[0].json() == sent[1].json()
    assert confirmer.lambda_handler(load("confirm_batch.json"), FakeContext()) == {"batchItemFailures": []}
    (stored,) = [i for i in ddb.scan(TableName=OUTBOX)["Items"] if i["entity"] == {"S": "OUTBOX"}]
    assert stored["status"] == {"S": "PUBLISHED"}
    assert sweeper.lambda_handler(load("sweeper_schedule.json"), FakeContext())["stale"] == 0


def test_a_missing_variable_is_named(monkeypatch):
    monkeypatch.setattr(sweeper, "_sweeper", None)
    monkeypatch.setenv("OUTBOX_TABLE_NAME", OUTBOX)
    monkeypatch.setenv("OUTBOX_STALE_SECONDS", "60")
    with pytest.raises(Exception, match="OUTBOX_ALERT_ATTEMPTS"):
        sweeper.get_sweeper()
