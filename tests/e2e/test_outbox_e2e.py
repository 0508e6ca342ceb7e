"""The outbox end to end: the local runtime runs template.yaml's relay (the table's stream), its
confirmer (Kafka) and its sweeper against real Kafka and DynamoDB Local. Events are written the way
a capability writes them: the outbox item in the same transaction as a business item."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from common.outbox.envelope import OutboxEvent
from common.outbox.items import key_of, outbox_put
from infra.template import load_template
from tests.conftest import REPO, TEMPLATE

SEQUENCE = ["order.created", "inventory.reserved", "order.cancelled", "inventory.reserved", "order.cancelled"]


def _tables(template: Path = TEMPLATE) -> tuple[str, str]:
    tables = load_template(template).tables
    return tables["OutboxTable"].table_name, tables["CouponsTable"].table_name


def variant(tmp_path: Path, *, relay_enabled: bool = True, stale_seconds: int = 60) -> Path:
    """template.yaml with the relay's stream disabled and/or a shorter stale threshold."""
    text = TEMPLATE.read_text().replace("CodeUri: functions/", f"CodeUri: {REPO}/functions/")
    if not relay_enabled:
        before = "            Stream: !GetAtt OutboxTable.StreamArn\n"
        assert before in text
        text = text.replace(before, before + "            Enabled: false\n")
    stale = "    Default: 60\n    Description: A PENDING outbox item"
    assert stale in text
    text = text.replace(stale, stale.replace("60", str(stale_seconds)))
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def write_events(ddb, template: Path, aggregates: int, at: datetime | None = None) -> list[OutboxEvent]:
    """Each aggregate's SEQUENCE, one transaction per event (a business item + its outbox item),
    in causal order: the next is written only after the previous committed."""
    outbox, business = _tables(template)
    written = []
    run = uuid.uuid4().hex[:8]
    for n, event_type in enumerate(SEQUENCE):
        for a in range(aggregates):
            aggregate = f"o-{run}-{a:03d}"
            when = (at or datetime.now(UTC)) + timedelta(milliseconds=n)
            event = OutboxEvent.new(
                event_type, "order", aggregate, {"step": n}, now=when, correlation_id=f"corr-{aggregate}"
            )
            change = {
                "Put": {
                    "TableName": business,
                    "Item": {"pk": {"S": f"E2E#{aggregate}"}, "sk": {"S": f"STEP#{n}"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            ddb.transact_write_items(TransactItems=[change, outbox_put(outbox, event)])
            written.append(event)
    return written


def statuses(ddb, template: Path, events: list[OutboxEvent]) -> dict[str, dict[str, Any]]:
    outbox, _ = _tables(template)
    found = {}
    for event in events:
        item = ddb.get_item(TableName=outbox, Key=key_of(event.envelope), ConsistentRead=True)["Item"]
        found[event.event_id] = item
    return found


def wait_published(
    ddb, template: Path, events: list[OutboxEvent], timeout: float
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = statuses(ddb, template, events)
        pending = [i for i, item in items.items() if item["status"]["S"] != "PUBLISHED"]
        if not pending or time.monotonic() > deadline:
            assert pending == [], f"{len(pending)} of {len(events)} never PUBLISHED"
            return items
        time.sleep(0.5)


def read_topics(bootstrap: str, topics: set[str], wanted: set[str], timeout: float = 30.0) -> list[Any]:
    """Every record of `topics` whose eventId header is in `wanted`, in (topic, partition, offset) order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in partitions):
        for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
            for record in batch:
                headers = dict(record.headers)
                if headers.get("eventId", b"").decode() in wanted:
                    got.append(record)
    consumer.close()
    return sorted(got, key=lambda r: (r.topic, r.partition, r.offset))


def assert_on_kafka_in_order(bootstrap: str, events: list[OutboxEvent]) -> list[Any]:
    records = read_topics(bootstrap, {e.topic for e in events}, {e.event_id for e in events})
    by_id = defaultdict(list)
    for record in records:
        by_id[dict(record.headers)["eventId"].decode()].append(record)
    assert {e.event_id for e in events} == set(by_id), "an event is missing from its topic"
    written = {e.event_id: n for n, e in enumerate(events)}
    for event in events:
        record = by_id[event.event_id][0]
        envelope = json.loads(record.value)
        assert envelope == event.envelope.model_dump(mode="json")
        assert record.key == event.kafka_key()
        assert dict(record.headers)["correlation-id"] == f"corr-{event.envelope.aggregateId}".encode()
    # Per aggregate and topic: one partition, first copies in the order they were written.
    per_partition: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for record in records:
        per_partition[(record.key.decode(), record.topic)].append(record)
    for (aggregate, topic), copies in per_partition.items():
        assert len({r.partition for r in copies}) == 1, f"{aggregate} on {topic} spans partitions"
        first_seen = list(dict.fromkeys(dict(r.headers)["eventId"].decode() for r in copies))
        assert first_seen == sorted(first_seen, key=written.__getitem__), (
            f"{aggregate} out of order on {topic}"
        )
    return records


def test_relay_and_confirmer_publish_every_event_once_in_order(start_runtime, ddb, stack):
    started = time.monotonic()
    runtime = start_runtime()
    events = write_events(ddb, TEMPLATE, aggregates=20)
    items = wait_published(ddb, TEMPLATE, events, timeout=60)
    # The relay's stream position is in the state dir, so a restarted `surge local up` resumes there.
    checkpoints = runtime.state_dir / "stream-checkpoints" / "OutboxRelayFunction.OutboxInserts.json"
    assert checkpoints.exists() and json.loads(checkpoints.read_text())
    assert all(item["publishAttempts"] == {"N": "0"} for item in items.values())  # the relay did it all
    assert all("pendingBucket" not in item and "ttl" in item for item in items.values())
    records = assert_on_kafka_in_order(stack.endpoints.require_kafka(), events)
    assert len(records) == len(events)  # no sweeper copies: nothing was stale
    print(f"relay path: {len(events)} events in {time.monotonic() - started:.1f}s")


def test_with_the_relay_disabled_the_sweeper_publishes_everything(start_runtime, ddb, stack, tmp_path):
    template = variant(tmp_path, relay_enabled=False, stale_seconds=1)
    runtime = start_runtime(template)
    events = write_events(ddb, template, aggregates=10)
    time.sleep(3)
    assert all(i["status"]["S"] == "PENDING" for i in statuses(ddb, template, events).values())
    schedule = json.loads((REPO / "events" / "outbox" / "sweeper_schedule.json").read_text())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = runtime.invoker.invoke("OutboxSweeperFunction", schedule)
        assert result.ok, result.error_message
        if result.payload["stale"] == 0:
            break
        time.sleep(1)
    items = wait_published(ddb, template, events, timeout=30)
    assert all(int(item["publishAttempts"]["N"]) >= 1 for item in items.values())
    assert_on_kafka_in_order(stack.endpoints.require_kafka(), events)
