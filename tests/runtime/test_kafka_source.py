"""Conformance of the Kafka event source mapping (docs/event-sources.md) against real Kafka."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import replace

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from infra.runtime.kafka.source import KafkaEventSource
from infra.template.models import KafkaEventSpec
from tests.runtime.esm_helpers import wait_until

pytestmark = pytest.mark.stack


@pytest.fixture
def servers(endpoints) -> str:
    return endpoints.require_kafka()


@pytest.fixture
def producer(servers):
    p = KafkaProducer(bootstrap_servers=servers, linger_ms=0)
    yield p
    p.close()


@pytest.fixture
def run_source(probe, servers, tmp_path):
    """Build and start a KafkaEventSource on `topic` for the probe; stopped at teardown."""
    started: list[KafkaEventSource] = []

    def run(
        topic: str,
        start: bool = True,
        stop_timeout_s: float = 5.0,
        consumer_config: dict | None = None,
        **overrides,
    ) -> KafkaEventSource:
        spec = KafkaEventSpec(
            name="Events",
            function_logical_id="Probe",
            source_kind="SelfManagedKafka",
            topic=topic,
            bootstrap_servers=servers,
            starting_position="TRIM_HORIZON",
            consumer_group_id=f"g-{uuid.uuid4().hex[:8]}",
            batching_window_seconds=0,
        )
        spec = replace(spec, **overrides)
        source = KafkaEventSource(
            spec,
            probe.invoker,
            function_id="Probe",
            dead_letter_dir=tmp_path / "dead-letters",
            backoff_base_s=0.05,
            backoff_max_s=0.2,
            stop_timeout_s=stop_timeout_s,
            hold_s=0.2,
            consumer_config=consumer_config,
        )
        started.append(source)
        if start:
            source.start()
            wait_until(source.ready)
        return source

    yield run
    for source in started:
        source.stop()


def send(producer, topic, values, partition=0, key=None, headers=None, timestamp_ms=None):
    for value in values:
        raw = value if isinstance(value, bytes | None) else json.dumps(value).encode()
        producer.send(
            topic, value=raw, key=key, partition=partition, headers=headers, timestamp_ms=timestamp_ms
        )
    producer.flush()


def delivered(probe, partition_key=None):
    """All records the probe received, in delivery order."""
    out = []
    for event in probe.events():
        for key, records in event["records"].items():
            if partition_key is None or key == partition_key:
                out.extend(records)
    return out


def values_of(records):
    return [json.loads(base64.b64decode(r["value"])) for r in records]


def committed(servers, group, topic, partition=0):
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, partition))
    finally:
        consumer.close()


def test_smoke_delivers_and_commits(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    source = run_source(topic)
    send(producer, topic, [{"n": i} for i in range(5)])
    wait_until(lambda: len(delivered(probe)) == 5)
    wait_until(lambda: committed(servers, source.group_id, topic) == 5)
    assert values_of(delivered(probe)) == [{"n": i} for i in range(5)]


def read_topic(servers, topic, count, timeout=15.0):
    consumer = KafkaConsumer(
        topic, bootstrap_servers=servers, auto_offset_reset="earliest", consumer_timeout_ms=500
    )
    out: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            out.extend(consumer)
    finally:
        consumer.close()
    return out


def test_payload_shape_self_managed(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    run_source(topic)
    producer.send(topic, key=None, value=b"\x00\xff\x10binary", headers=[("h", "ë".encode())], partition=0)
    producer.send(topic, key=b"k", value=None, partition=0)
    producer.flush()
    wait_until(lambda: len(delivered(probe)) == 2)
    event = probe.events()[0]
    assert set(event) == {"eventSource", "bootstrapServers", "records"}
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == servers
    first, second = delivered(probe)
    assert set(first) == {"topic", "partition", "offset", "timestamp", "timestampType", "value", "headers"}
    assert first["topic"] == topic and first["partition"] == 0 and first["offset"] == 0
    assert all(isinstance(first[f], int) for f in ("partition", "offset", "timestamp"))
    assert abs(first["timestamp"] - time.time() * 1000) < 60_000
    assert first["timestampType"] == "CREATE_TIME"
    assert base64.b64decode(first["value"]) == b"\x00\xff\x10binary"
    assert first["headers"] == [{"h": [-61, -85]}]
    assert "value" not in second and base64.b64decode(second["key"]) == b"k"
    assert second["headers"] == []
    assert list(event["records"]) == [f"{topic}-0"]


def test_payload_shape_msk_has_event_source_arn(make_topic, producer, probe, run_source):
    topic = make_topic()
    arn = "arn:aws:kafka:us-east-1:123456789012:cluster/c/abc"
    run_source(topic, source_kind="MSK", event_source_arn=arn)
    send(producer, topic, [{"n": 1}])
    event = wait_until(lambda: probe.events())[0]
    assert event["eventSource"] == "aws:kafka"
    assert event["eventSourceArn"] == arn


def test_per_partition_order_and_one_partition_per_batch(make_topic, producer, probe, run_source):
    topic = make_topic(partitions=3)
    for p in range(3):
        send(producer, topic, [{"p": p, "n": i} for i in range(20)], partition=p)
    run_source(topic, batch_size=7)
    wait_until(lambda: len(delivered(probe)) == 60)
    for event in probe.events():
        assert len(event["records"]) == 1
    for p in range(3):
        offsets = [r["offset"] for r in delivered(probe, f"{topic}-{p}")]
        assert offsets == list(range(20))


def test_batch_size_is_honoured(make_topic, producer, probe, run_source):
    topic = make_topic()
    send(producer, topic, [{"n": i} for i in range(25)])
    run_source(topic, batch_size=10)
    wait_until(lambda: len(delivered(probe)) == 25)
    sizes = [len(e["records"][f"{topic}-0"]) for e in probe.events()]
    assert sizes == [10, 10, 5]


def test_batching_window_collects_slow_records_into_one_batch(make_topic, producer, probe, run_source):
    topic = make_topic()
    run_source(topic, batch_size=100, batching_window_seconds=1.5)
    for i in range(4):
        send(producer, topic, [{"n": i}])
        time.sleep(0.15)
    wait_until(lambda: len(delivered(probe)) == 4)
    assert len(probe.events()) == 1


def test_partitions_are_processed_concurrently(make_topic, producer, probe, run_source):
    topic = make_topic(partitions=2)
    for p in range(2):
        send(producer, topic, [{"sleep": 1}], partition=p)
    run_source(topic)
    wait_until(lambda: len(probe.events()) == 2)
    starts = [json.loads(line)["at"] for line in probe.record_file.read_text().splitlines()]
    assert abs(starts[0] - starts[1]) < 0.8


def test_a_partition_with_a_full_buffer_does_not_hold_back_the_others(
    make_topic, producer, probe, run_source
):
    """Back-pressure is per partition: while partition 0's first batch is stuck in a slow invocation
    and its buffer is full (paused), records arriving on partition 1 are fetched and delivered."""
    topic = make_topic(partitions=2)
    send(producer, topic, [{"sleep": 4}] + [{"n": i} for i in range(1999)], partition=0)
    run_source(topic, batch_size=50)
    wait_until(lambda: probe.events())  # partition 0's sleeping batch has started
    stuck_since = json.loads(probe.record_file.read_text().splitlines()[0])["at"]
    send(producer, topic, [{"n": i} for i in range(100)], partition=1)
    wait_until(lambda: len(delivered(probe, f"{topic}-1")) == 100, timeout=3)
    p1_done = max(json.loads(line)["at"] for line in probe.record_file.read_text().splitlines()[1:])
    assert p1_done < stuck_since + 4, "partition 1 waited for partition 0's slow batch"
    wait_until(lambda: len(delivered(probe, f"{topic}-0")) == 2000)
    assert [r["offset"] for r in delivered(probe, f"{topic}-0")] == list(range(2000))


def test_offsets_are_committed_only_after_success_kill_mid_batch(
    make_topic, producer, probe, run_source, servers
):
    topic = make_topic()
    send(producer, topic, [{"n": i} for i in range(5)])
    probe.script({"sleep": 4})
    first = run_source(topic, stop_timeout_s=0.3)
    wait_until(lambda: probe.events())  # the handler has the batch and is sleeping
    first.stop()
    assert committed(servers, first.group_id, topic) is None
    second = run_source(topic, consumer_group_id=first.group_id)
    wait_until(lambda: len(probe.events()) == 2)
    assert values_of(delivered(probe)[5:]) == [{"n": i} for i in range(5)]
    wait_until(lambda: committed(servers, second.group_id, topic) == 5)


def test_a_crashing_or_timing_out_handler_never_stops_the_source(make_topic, producer, probe, run_source):
    topic = make_topic()
    probe.script({"crash": True}, {"sleep": 10})  # crash, then run past the 5 s timeout
    source = run_source(topic)
    send(producer, topic, [{"n": 1}])
    wait_until(lambda: len(probe.events()) == 3, timeout=20)
    status = source.status()
    assert status["retries"] == 2 and status["state"] == "polling"
    assert status["last_error"]["type"] == "Sandbox.Timedout"


def test_whole_batch_is_retried_on_exception(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    probe.script({"raise": "boom"}, {"raise": "boom"})
    send(producer, topic, [{"n": i} for i in range(3)])  # before the start: one batch, not a race
    source = run_source(topic)
    wait_until(lambda: len(probe.events()) == 3)
    batches = [[r["offset"] for r in e["records"][f"{topic}-0"]] for e in probe.events()]
    assert batches == [[0, 1, 2]] * 3
    wait_until(lambda: committed(servers, source.group_id, topic) == 3)
    assert source.status()["retries"] == 2
    assert source.status()["last_error"]["message"] == "boom"


def test_exhausted_retries_publish_the_dead_letter_and_move_on(
    make_topic, producer, probe, run_source, servers
):
    topic, dlt = make_topic(), make_topic(prefix="dlt")
    source = run_source(topic, maximum_retry_attempts=1, on_failure_destination=f"kafka://{dlt}")
    producer.send(topic, key=b"order-7", value=json.dumps({"poison": 1}).encode(), partition=0)
    producer.flush()
    (message,) = read_topic(servers, dlt, 1)
    assert message.key == b"order-7"
    doc = json.loads(message.value)
    assert doc["version"] == "1.0"
    assert doc["requestContext"]["condition"] == "RetriesExhausted"
    assert doc["requestContext"]["approximateInvokeCount"] == 2
    assert doc["requestContext"]["functionArn"].endswith(":function:Probe")
    assert doc["responseContext"]["functionError"] == "Unhandled"
    info = doc["KafkaBatchInfo"]
    assert info["batchSize"] == 1 and info["bootstrapServers"] == servers
    assert info["recordInfo"]["offset"] == "0" and info["payloadSize"] > 0
    payload = doc["payload"]
    assert payload["eventSource"] == "SelfManagedKafka"
    (record,) = payload["records"][f"{topic}-0"]
    assert base64.b64decode(record["key"]) == b"order-7" and record["offset"] == 0
    send(producer, topic, [{"n": "good"}])
    wait_until(lambda: committed(servers, source.group_id, topic) == 2)
    assert values_of(delivered(probe))[-1] == {"n": "good"}
    assert source.status()["dead_lettered"] == 1


def test_exhausted_retries_without_destination_are_discarded(
    make_topic, producer, probe, run_source, servers
):
    topic = make_topic()
    source = run_source(topic, maximum_retry_attempts=0)
    send(producer, topic, [{"poison": 1}, {"n": 2}])
    wait_until(lambda: committed(servers, source.group_id, topic) == 2)
    assert source.status()["discarded"] == 2


def _failure(topic, offset):
    return {"batchItemFailures": [{"itemIdentifier": {"partition": f"{topic}-0", "offset": offset}}]}


def test_partial_failure_commits_up_to_the_lowest_failed_offset(
    make_topic, producer, probe, run_source, servers
):
    topic = make_topic()
    probe.script({"return": _failure(topic, 2)}, {"sleep": 4.0})  # a redelivery long enough to look at
    send(producer, topic, [{"n": i} for i in range(5)])  # before the start: one batch, not a race
    source = run_source(topic, report_batch_item_failures=True)
    wait_until(lambda: len(probe.events()) == 2)
    # while the redelivery runs, offsets 0-1 are committed and 2.. are not
    wait_until(lambda: committed(servers, source.group_id, topic) == 2)
    wait_until(lambda: committed(servers, source.group_id, topic) == 5)
    batches = [[r["offset"] for r in e["records"][f"{topic}-0"]] for e in probe.events()]
    assert batches == [[0, 1, 2, 3, 4], [2, 3, 4]]
    assert source.status()["partial_failures"] == 1


@pytest.mark.parametrize(
    "response",
    [
        "not a dict",
        {"batchItemFailures": "nope"},
        {"batchItemFailures": [{"itemIdentifier": {"partition": "other-0", "offset": 1}}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
    ],
    ids=["not-a-dict", "not-a-list", "unknown-identifier", "null-identifier"],
)
def test_malformed_partial_response_fails_the_whole_batch(make_topic, producer, probe, run_source, response):
    topic = make_topic()
    probe.script({"return": response})
    send(producer, topic, [{"n": i} for i in range(3)])  # before the start: one batch, not a race
    run_source(topic, report_batch_item_failures=True)
    # Retries go on (MaximumRetryAttempts -1): look at the first two deliveries.
    wait_until(lambda: len(probe.events()) >= 2)
    batches = [[r["offset"] for r in e["records"][f"{topic}-0"]] for e in probe.events()[:2]]
    assert batches == [[0, 1, 2], [0, 1, 2]]


def test_bisect_isolates_one_poison_record(make_topic, producer, probe, run_source, servers):
    topic, dlt = make_topic(), make_topic(prefix="dlt")
    values = [{"n": i} for i in range(8)]
    values[5] = {"poison": True}
    send(producer, topic, values)
    source = run_source(
        topic, bisect_on_error=True, maximum_retry_attempts=0, on_failure_destination=f"kafka://{dlt}"
    )
    (message,) = read_topic(servers, dlt, 1)
    wait_until(lambda: committed(servers, source.group_id, topic) == 8)
    succeeded: set[int] = set()
    for event in probe.events():
        records = event["records"][f"{topic}-0"]
        if not any("poison" in v for v in values_of(records)):
            succeeded.update(r["offset"] for r in records)
    assert succeeded == {0, 1, 2, 3, 4, 6, 7}
    assert json.loads(message.value)["KafkaBatchInfo"]["recordInfo"]["offset"] == "5"
    assert source.status()["bisections"] >= 3


def test_records_older_than_maximum_age_are_dead_lettered(make_topic, producer, probe, run_source, servers):
    topic, dlt = make_topic(), make_topic(prefix="dlt")
    old_ms = int((time.time() - 3600) * 1000)
    send(producer, topic, [{"n": "old"}], timestamp_ms=old_ms)
    send(producer, topic, [{"n": "fresh"}])
    source = run_source(topic, maximum_record_age_seconds=60, on_failure_destination=f"kafka://{dlt}")
    (message,) = read_topic(servers, dlt, 1)
    assert json.loads(message.value)["requestContext"]["condition"] == "RecordAgeExceeded"
    wait_until(lambda: committed(servers, source.group_id, topic) == 2)
    assert values_of(delivered(probe)) == [{"n": "fresh"}]


def test_filters_drop_and_commit(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    send(producer, topic, [{"type": "KEEP", "n": 0}, {"type": "DROP"}, {"type": "KEEP", "n": 3}])
    send(producer, topic, [b"plain text", b"\xff\xfe not utf-8"])
    source = run_source(topic, filter_patterns=[{"value": {"type": ["KEEP"]}}])
    wait_until(lambda: committed(servers, source.group_id, topic) == 5)
    assert values_of(delivered(probe)) == [{"type": "KEEP", "n": 0}, {"type": "KEEP", "n": 3}]
    assert source.status()["filtered"] == 3
    source.stop()
    again = run_source(topic, consumer_group_id=source.group_id)
    time.sleep(0.5)
    assert again.status()["records_delivered"] == 0


def test_unsupported_filter_operator_is_a_start_up_error(make_topic, probe, run_source):
    with pytest.raises(ValueError, match="cidr"):
        run_source(make_topic(), start=False, filter_patterns=[{"value": {"ip": [{"cidr": "10.0.0.0/8"}]}}])


def test_a_group_with_more_members_than_partitions_loses_nothing_when_the_holder_leaves(
    make_topic, producer, probe, run_source, servers
):
    """Two sources of one group on a one-partition topic: one holds the partition, the other stays
    an idle member. When the holder stops, the other takes the partition over at the committed
    offset: every record is delivered."""
    topic = make_topic(partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = run_source(topic, consumer_group_id=group)
    second = run_source(topic, consumer_group_id=group)
    send(producer, topic, [{"n": n} for n in range(20)])
    wait_until(lambda: committed(servers, group, topic) == 20)
    holder, idle = (first, second) if first.status()["partitions"] else (second, first)
    assert not idle.status()["partitions"]
    holder.stop()
    send(producer, topic, [{"n": n} for n in range(20, 40)])
    wait_until(lambda: committed(servers, group, topic) == 40, timeout=30)
    assert {v["n"] for v in values_of(delivered(probe))} == set(range(40))
    assert idle.status()["state"] == "polling"


def test_restart_resumes_from_committed_group_offsets(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    send(producer, topic, [{"n": i} for i in range(3)])
    first = run_source(topic)
    wait_until(lambda: committed(servers, first.group_id, topic) == 3)
    first.stop()
    send(producer, topic, [{"n": i} for i in range(3, 6)])
    second = run_source(topic, consumer_group_id=first.group_id, starting_position="TRIM_HORIZON")
    wait_until(lambda: committed(servers, second.group_id, topic) == 6)
    assert values_of(delivered(probe)) == [{"n": i} for i in range(6)]


def test_default_group_is_stable_per_function_and_event(make_topic, probe, run_source):
    source = run_source(make_topic(), start=False, consumer_group_id=None)
    assert source.group_id == "surge-Probe-Events"


def test_at_timestamp_starts_at_the_first_record_at_or_after_it(make_topic, producer, probe, run_source):
    topic = make_topic()
    base = int(time.time() * 1000) - 100_000
    for i in range(6):
        send(producer, topic, [{"n": i}], timestamp_ms=base + i * 10_000)
    run_source(topic, starting_position="AT_TIMESTAMP", starting_position_timestamp=(base + 30_000) / 1000)
    wait_until(lambda: len(delivered(probe)) == 3)
    assert values_of(delivered(probe)) == [{"n": 3}, {"n": 4}, {"n": 5}]


def test_latest_skips_existing_records(make_topic, producer, probe, run_source):
    topic = make_topic()
    send(producer, topic, [{"n": "before"}])
    run_source(topic, starting_position="LATEST")
    time.sleep(0.3)
    send(producer, topic, [{"n": "after"}])
    wait_until(lambda: delivered(probe))
    assert values_of(delivered(probe)) == [{"n": "after"}]


def test_latest_is_where_the_partitions_ended_at_start_not_at_a_later_hand_over(
    make_topic, producer, probe, run_source, servers
):
    """A partition handed to a LATEST source later (another member held it, then left without
    committing) starts where it ended when the source started: a record sent in between is
    delivered, not skipped by a reset to the end at the hand-over."""
    topic = make_topic(partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    holder = KafkaConsumer(
        bootstrap_servers=servers, group_id=group, enable_auto_commit=False, auto_offset_reset="latest"
    )
    # Join once this client's metadata shows both partitions: a member that joins before then is
    # assigned nothing, and kafka-python looks again only after metadata.max.age.ms (5 minutes).
    wait_until(lambda: holder.partitions_for_topic(topic) == {0, 1})
    holder.subscribe([topic])
    holding = threading.Event()
    leaving = threading.Event()

    def hold() -> None:  # a member that polls (so rebalances complete) and never commits
        while not leaving.is_set():
            holder.poll(timeout_ms=100)
            if holder.assignment():
                holding.set()
        holder.close(autocommit=False)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert holding.wait(30), "the other member never got partitions"
        send(producer, topic, [{"n": "before"}], partition=0)
        send(producer, topic, [{"n": "before"}], partition=1)
        source = run_source(topic, starting_position="LATEST", consumer_group_id=group)
        wait_until(lambda: len(holder.assignment()) == 1)  # the two members share the partitions
        send(producer, topic, [{"n": "after"}], partition=0)
        send(producer, topic, [{"n": "after"}], partition=1)
    finally:
        leaving.set()
        thread.join(30)
    wait_until(lambda: len(delivered(probe)) >= 2)
    time.sleep(0.5)  # nothing more may come
    assert values_of(delivered(probe)) == [{"n": "after"}, {"n": "after"}]
    assert source.status()["state"] == "polling"


def test_disabled_source_does_not_consume(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    send(producer, topic, [{"n": 1}])
    source = run_source(topic, enabled=False)
    assert source.ready() and source.status()["state"] == "disabled"
    time.sleep(0.5)
    assert probe.events() == []
    assert committed(servers, source.group_id, topic) is None


def test_status_reports_lag_and_counters(make_topic, producer, probe, run_source, servers):
    topic = make_topic()
    send(producer, topic, [{"n": i} for i in range(4)])
    source = run_source(topic)
    wait_until(lambda: committed(servers, source.group_id, topic) == 4)
    status = wait_until(lambda: (s := source.status())["partitions"].get(0, {}).get("lag") == 0 and s)
    assert status["type"] == "SelfManagedKafka" and status["topic"] == topic
    assert status["group"] == source.group_id
    assert status["partitions"][0]["committed"] == 4
    assert status["batches_invoked"] == 1 and status["records_delivered"] == 4


def test_a_partition_paused_when_a_rebalance_comes_is_consumed_again_after_it(
    make_topic, producer, probe, run_source, servers
):
    """librdkafka keeps a partition paused across a rebalance, while the source starts each newly
    assigned partition afresh (not paused). A partition paused for back-pressure when another member
    joined used to stay paused for good: its lag grew and nothing said why."""
    topic = make_topic(partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    probe.script({"sleep": 4})  # the first batch only: meanwhile partition 1's buffer fills and it is paused
    send(producer, topic, [{"n": i} for i in range(1000)], partition=1)
    # librdkafka hears of a rebalance at its next heartbeat (every 3 s by default): sooner here, so
    # the rebalance comes while the first batch still sleeps.
    source = run_source(
        topic, batch_size=50, consumer_group_id=group, consumer_config={"heartbeat.interval.ms": 200}
    )
    wait_until(lambda: source.status()["partitions"].get(1, {}).get("paused"), timeout=10)
    # A member whose id sorts first: the range assignor gives it partition 0, so the source keeps
    # partition 1 (the broker builds member ids from client ids).
    joiner = KafkaConsumer(
        bootstrap_servers=servers, group_id=group, client_id="a-joiner", enable_auto_commit=False
    )
    wait_until(lambda: joiner.partitions_for_topic(topic) == {0, 1})
    joiner.subscribe([topic])
    leaving = threading.Event()

    def member() -> None:  # polls so the rebalance completes; holds partition 0, never commits
        while not leaving.is_set():
            joiner.poll(timeout_ms=100)
        joiner.close(autocommit=False)

    thread = threading.Thread(target=member, daemon=True)
    thread.start()
    try:
        wait_until(lambda: {tp.partition for tp in joiner.assignment()} == {0}, timeout=30)
        wait_until(lambda: set(source.status()["partitions"]) == {1}, timeout=30)
        reassigned_at = time.time()
        first_batch_at = json.loads(probe.record_file.read_text().splitlines()[0])["at"]
        print(f"rebalanced {reassigned_at - first_batch_at:.2f} s after the first batch started")
        assert reassigned_at < first_batch_at + 4, "the rebalance came after the pause: this proves nothing"
        wait_until(lambda: committed(servers, group, topic, partition=1) == 1000, timeout=30)
    finally:
        leaving.set()
        thread.join(30)
    assert {r["offset"] for r in delivered(probe, f"{topic}-1")} == set(range(1000))
