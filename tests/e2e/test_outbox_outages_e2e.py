"""At least once, whatever stops: the relay crashing mid-batch, and Kafka going away while events are
being written. Every outbox item ends PUBLISHED and every event is on its topic, first copies in
causal order per aggregate (real Kafka, DynamoDB Local, template.yaml's outbox functions)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from common.config import Endpoints
from common.types import iso
from infra.runtime.app import LocalRuntime
from infra.stack.kafka_broker import KafkaBroker
from tests.conftest import REPO
from tests.e2e.test_outbox_e2e import assert_on_kafka_in_order, variant, wait_published, write_events

SCHEDULE = json.loads((REPO / "events" / "outbox" / "sweeper_schedule.json").read_text())
RELAY_HANDLER = "      Handler: common.outbox.handlers.relay.lambda_handler\n"
RELAY_BATCH = "            Stream: !GetAtt OutboxTable.StreamArn\n"


def crashing_relay_template(tmp_path: Path, flag: Path) -> Path:
    """template.yaml's relay behind the crash switch, collecting records for 2 s so that the test's
    events share a batch (whatever backlog the stream holds from earlier tests comes first)."""
    path = variant(tmp_path)
    text = path.read_text()
    assert RELAY_HANDLER in text and RELAY_BATCH in text
    text = text.replace(RELAY_BATCH, RELAY_BATCH + "            MaximumBatchingWindowInSeconds: 2\n")
    crashing = (
        f"      CodeUri: {REPO}/tests/e2e/functions\n"
        "      Handler: crashing_relay.lambda_handler\n"
        "      Environment:\n"
        "        Variables:\n"
        f"          RELAY_CRASH_FLAG: {flag}\n"
    )
    path.write_text(text.replace(RELAY_HANDLER, crashing))
    return path


def test_a_relay_crashing_mid_batch_still_publishes_every_event(start_runtime, ddb, stack, tmp_path):
    flag = tmp_path / "crash-once"
    template = crashing_relay_template(tmp_path, flag)
    runtime = start_runtime(template)
    flag.write_text(iso(datetime.now(UTC)))  # the events written from now on are this test's
    events = write_events(ddb, template, aggregates=12)
    wait_published(ddb, template, events, timeout=90)
    assert not flag.exists(), "the relay never crashed"
    records = assert_on_kafka_in_order(stack.endpoints.require_kafka(), events)
    copies = Counter(dict(r.headers)["eventId"].decode() for r in records)
    assert max(copies.values()) >= 2  # published before the crash, and again by the retried batch
    relay = runtime.status()["sources"]["OutboxRelayFunction.OutboxInserts"]
    assert relay["last_error"] is not None  # the crash was a failed invocation, retried


def test_kafka_stopping_while_events_are_written_loses_none(stack, ddb, tmp_path):
    broker = KafkaBroker.start(data_dir=tmp_path / "kafka", log_dir=tmp_path / "logs")
    endpoints = Endpoints(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        dynamodb=stack.endpoints.dynamodb,
        dynamodbstreams=stack.endpoints.dynamodbstreams,
    )
    template = variant(tmp_path, stale_seconds=1)
    runtime = LocalRuntime(
        template, endpoints, port=0, state_dir=tmp_path / "runtime", log=lambda fid, line: None
    )
    try:
        runtime.start()
        runtime.wait_healthy()
        before = write_events(ddb, template, aggregates=6)
        wait_published(ddb, template, before, timeout=60)

        broker.stop()  # the process is gone; its data dir stays
        during = write_events(ddb, template, aggregates=6)  # the business writes do not need Kafka
        time.sleep(5)  # the relay's publishes fail meanwhile
        broker = KafkaBroker.start(port=broker.port, data_dir=tmp_path / "kafka", log_dir=tmp_path / "logs")

        # The relay's retries or the sweeper (a 1 s stale threshold) publish what the outage held up.
        assert runtime.invoker is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            result = runtime.invoker.invoke("OutboxSweeperFunction", SCHEDULE)
            if result.ok and result.payload["stale"] == 0:
                break
            time.sleep(2)
        wait_published(ddb, template, before + during, timeout=120)
        assert_on_kafka_in_order(broker.bootstrap_servers, before + during)
    finally:
        runtime.stop()
        broker.stop()
