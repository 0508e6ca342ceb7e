"""The outbox engine against moto: atomic write with the business change, publish envelope, the
confirmer's idempotent mark, the sweeper's sparse index and lease, the inbox."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.kafka_records import KafkaEvent
from common.outbox.confirmer import Confirmer
from common.outbox.envelope import OutboxEvent
from common.outbox.inbox import already_processed, inbox_put
from common.outbox.items import PENDING_INDEX, event_from_item, key_of, outbox_item, outbox_put
from common.outbox.relay import Relay
from common.outbox.sweeper import Sweeper, SweepPolicy
from tests.unit.coupons.support import FakePublisher, kafka_event, kafka_record
from tests.unit.outbox.conftest import OUTBOX

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
POLICY = SweepPolicy(
    stale_after=timedelta(seconds=60), lease=timedelta(seconds=30), alert_attempts=2, alert_topic="ops.alert"
)


def event(
    aggregate: str = "o-1", kind: str = "order.created", at: datetime = T0, **payload: Any
) -> OutboxEvent:
    return OutboxEvent.new(
        kind, "order", aggregate, payload or {"orderId": aggregate}, now=at, correlation_id="corr-1"
    )


def write(ddb, *events: OutboxEvent) -> None:
    ddb.transact_write_items(TransactItems=[outbox_put(OUTBOX, e) for e in events])


def item(ddb, e: OutboxEvent) -> dict[str, Any]:
    return ddb.get_item(TableName=OUTBOX, Key=key_of(e.envelope), ConsistentRead=True)["Item"]


def stream_record(e: OutboxEvent, sequence: int) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"NewImage": outbox_item(e), "SequenceNumber": str(sequence)}}


def kafka_batch(*events: OutboxEvent) -> KafkaEvent:
    records = [
        kafka_record(e.kafka_value(), e.kafka_key(), 0, offset, topic=e.topic)
        for offset, e in enumerate(events)
    ]
    return KafkaEvent.model_validate(kafka_event(records))


def test_the_outbox_item_is_written_with_the_business_change_or_not_at_all(ddb):
    ddb.put_item(TableName=OUTBOX, Item={"pk": {"S": "ORDER#o-1"}, "sk": {"S": "ORDER"}, "v": {"N": "1"}})
    e = event()
    change = {
        "Update": {
            "TableName": OUTBOX,
            "Key": {"pk": {"S": "ORDER#o-1"}, "sk": {"S": "ORDER"}},
            "UpdateExpression": "SET v = :two",
            "ConditionExpression": "v = :expected",
            "ExpressionAttributeValues": {":two": {"N": "2"}, ":expected": {"N": "9"}},
        }
    }
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[change, outbox_put(OUTBOX, e)])
    assert "Item" not in ddb.get_item(TableName=OUTBOX, Key=key_of(e.envelope))
    assert [i for i in ddb.scan(TableName=OUTBOX)["Items"] if i.get("entity") == {"S": "OUTBOX"}] == []


def test_item_fields_and_the_sparse_pending_index(ddb, store):
    e = event()
    write(ddb, e)
    stored = item(ddb, e)
    assert stored["status"] == {"S": "PENDING"} and stored["publishAttempts"] == {"N": "0"}
    assert stored["topic"] == {"S": "order.created"} and stored["correlationId"] == {"S": "corr-1"}
    assert json.loads(stored["payload"]["S"]) == {"orderId": "o-1"}
    assert event_from_item(stored) == e
    assert [i["eventId"]["S"] for i in store.stale_pending(T0 + timedelta(seconds=1), 10)] == [e.event_id]
    on_kafka_ms = int((T0 + timedelta(seconds=1)).timestamp() * 1000)
    assert store.mark_published(e.envelope, T0 + timedelta(seconds=2), on_kafka_ms) is True
    published = item(ddb, e)
    assert published["status"] == {"S": "PUBLISHED"}
    assert published["onKafkaAt"] == {"N": str(on_kafka_ms)}  # publish latency = onKafkaAt - occurredAt
    assert int(published["ttl"]["N"]) == int((T0 + timedelta(days=7, seconds=2)).timestamp())
    assert "pendingBucket" not in published and "pendingSince" not in published
    assert store.stale_pending(T0 + timedelta(days=1), 10) == []
    index = ddb.scan(TableName=OUTBOX, IndexName=PENDING_INDEX)["Items"]
    assert index == []


def test_stale_pending_is_oldest_first_and_only_older_than_the_cutoff(ddb, store):
    events = [event(f"o-{i}", at=T0 + timedelta(seconds=i)) for i in range(6)]
    write(ddb, *reversed(events))
    found = store.stale_pending(T0 + timedelta(seconds=3), 10)
    assert [i["eventId"]["S"] for i in found] == [e.event_id for e in events[:3]]


def test_the_relay_publishes_the_envelope_keyed_by_aggregate_with_headers(publisher):
    e = event()
    result = Relay(publisher).process([stream_record(e, 1)])
    assert result.published == 1 and result.batch_response() == {"batchItemFailures": []}
    (sent,) = publisher.sent
    assert sent.topic == "order.created" and sent.key == b"o-1"
    assert sent.json() == {
        "eventId": e.event_id,
        "eventType": "order.created",
        "occurredAt": "2026-05-01T12:00:00.000Z",
        "aggregateType": "order",
        "aggregateId": "o-1",
        "payload": {"orderId": "o-1"},
    }
    headers = dict(sent.headers)
    assert headers["eventId"] == e.event_id.encode() and headers["eventType"] == b"order.created"
    assert headers["correlation-id"] == b"corr-1"


def test_a_failed_record_stops_its_aggregate_and_is_reported():
    failed = event("o-2", kind="payment.completed")
    records = [event("o-1"), failed, event("o-2", kind="order.cancelled"), event("o-3")]
    publisher = FakePublisher(failing={"payment.completed"})
    result = Relay(publisher).process([stream_record(e, n) for n, e in enumerate(records, 1)])
    # o-2's next event is never sent ahead of the failed one; o-3 went in the same wave as o-2's first,
    # and the retry from sequence 2 sends it again (a duplicate the inbox absorbs).
    assert [(p.key, p.topic) for p in publisher.sent] == [
        (b"o-1", "order.created"),
        (b"o-3", "order.created"),
    ]
    assert result.batch_response() == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_one_aggregate_is_sent_one_record_at_a_time_in_stream_order():
    keys = ["a", "b", "a", "c", "a", "b"]
    events = [event(k, seq=n) for n, k in enumerate(keys)]
    publisher = FakePublisher()
    result = Relay(publisher).process([stream_record(e, n) for n, e in enumerate(events, 1)])
    assert publisher.waves == [[b"a", b"b", b"c"], [b"a", b"b"], [b"a"]]  # 3 round trips, not 6
    assert [p.json()["payload"]["seq"] for p in publisher.sent if p.key == b"a"] == [0, 2, 4]
    assert [p.json()["payload"]["seq"] for p in publisher.sent if p.key == b"b"] == [1, 5]
    assert result.published == 6 and result.batch_response() == {"batchItemFailures": []}


def test_records_before_the_failed_one_are_all_sent_since_the_retry_starts_after_them():
    # y2 waits behind y1 while x1 fails in the first wave: y2 is before x1, so the event source will
    # not send it again; it must go out in a second wave.
    y1, y2, x1 = event("y", seq=1), event("y", seq=2), event("x")
    publisher = FakePublisher(failing_keys={b"x"})
    result = Relay(publisher).process([stream_record(y1, 1), stream_record(y2, 2), stream_record(x1, 3)])
    assert publisher.waves == [[b"y", b"x"], [b"y"]]
    assert [p.json()["payload"]["seq"] for p in publisher.sent] == [1, 2]
    assert result.batch_response() == {"batchItemFailures": [{"itemIdentifier": "3"}]}


def test_the_confirmer_marks_once_and_a_duplicate_is_a_no_op(ddb, store):
    e = event()
    write(ddb, e)
    confirmer = Confirmer(store)
    first = confirmer.process(kafka_batch(e), T0)
    again = confirmer.process(kafka_batch(e, e), T0 + timedelta(seconds=5))
    assert (first.confirmed, first.already) == (1, 0)
    assert (again.confirmed, again.already) == (0, 2)
    assert item(ddb, e)["publishedAt"] == {"S": "2026-05-01T12:00:00.000Z"}  # the first mark stands


def test_the_confirmer_skips_a_record_that_is_not_an_outbox_event(store):
    records = [kafka_record(b"not json", b"k", 0, 0, topic="order.created")]
    result = Confirmer(store).process(KafkaEvent.model_validate(kafka_event(records)), T0)
    assert (result.not_outbox, result.failures) == (1, [])


def test_the_sweeper_republishes_stale_items_and_counts_attempts(ddb, store, publisher):
    stale, fresh = event("o-1"), event("o-2", at=T0 + timedelta(seconds=100))
    write(ddb, stale, fresh)
    result = Sweeper(store, publisher, POLICY).sweep(T0 + timedelta(seconds=120))
    assert result.republished_ids == [stale.event_id]
    assert [p.json()["eventId"] for p in publisher.on("order.created")] == [stale.event_id]
    assert item(ddb, stale)["publishAttempts"] == {"N": "1"}
    assert item(ddb, stale)["status"] == {"S": "PENDING"}  # only the confirmer marks
    assert item(ddb, fresh)["publishAttempts"] == {"N": "0"}


def test_a_second_sweeper_within_the_lease_does_not_republish(ddb, store, publisher):
    e = event()
    write(ddb, e)
    now = T0 + timedelta(seconds=120)
    one = Sweeper(store, publisher, POLICY).sweep(now)
    two = Sweeper(store, publisher, POLICY).sweep(now + timedelta(seconds=29))
    after_lease = Sweeper(store, publisher, POLICY).sweep(now + timedelta(seconds=31))
    assert (one.republished, two.republished, two.claimed_elsewhere) == (1, 0, 1)
    assert after_lease.republished == 1
    assert len(publisher.on("order.created")) == 2


def test_a_published_item_is_never_republished(ddb, store, publisher):
    e = event()
    write(ddb, e)
    store.mark_published(e.envelope, T0)
    # Even if a stale index read still returned it, the claim's status condition refuses it.
    assert store.claim(item(ddb, e), T0 + timedelta(seconds=300), POLICY.lease) is None
    assert Sweeper(store, publisher, POLICY).sweep(T0 + timedelta(seconds=300)).republished == 0


def test_past_the_alert_attempts_an_ops_alert_names_the_item_and_it_is_still_retried(ddb, store, publisher):
    e = event()
    write(ddb, e)
    sweeper = Sweeper(store, publisher, POLICY)
    results = [sweeper.sweep(T0 + timedelta(seconds=120 + 31 * n)) for n in range(3)]
    assert [r.stuck for r in results] == [[], [], [e.event_id]]
    (alert,) = publisher.on("ops.alert")
    assert alert.json()["payload"]["eventId"] == e.event_id
    assert alert.json()["payload"]["publishAttempts"] == 3
    assert len(publisher.on("order.created")) == 3


def test_the_inbox_makes_an_effect_happen_once(ddb):
    key = {"pk": {"S": "STOCK#p-1"}, "sk": {"S": "STOCK"}}
    ddb.put_item(TableName=OUTBOX, Item={**key, "stock": {"N": "10"}})
    effect = {
        "Update": {
            "TableName": OUTBOX,
            "Key": key,
            "UpdateExpression": "SET stock = stock - :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    ddb.transact_write_items(TransactItems=[inbox_put(OUTBOX, "inventory", "e-1", T0), effect])
    with pytest.raises(ClientError) as duplicate:
        ddb.transact_write_items(TransactItems=[inbox_put(OUTBOX, "inventory", "e-1", T0), effect])
    assert already_processed(duplicate.value)
    ddb.transact_write_items(TransactItems=[inbox_put(OUTBOX, "notification", "e-1", T0), effect])
    assert ddb.get_item(TableName=OUTBOX, Key=key)["Item"]["stock"] == {"N": "8"}


def test_envelope_value_is_json_bytes():
    e = event()
    assert json.loads(base64.b64decode(base64.b64encode(e.kafka_value())))["eventId"] == e.event_id
