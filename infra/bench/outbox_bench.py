"""The outbox's figures, in one run on one stack: the relay's events/s (template.yaml's
OutboxRelayFunction through the runtime, draining items written before it started) against the raw
rate of reading the same table's stream and producing to Kafka; commit -> on Kafka latency with the
relay running; and orders placed per second through the HTTP API."""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from common.config import Endpoints
from common.outbox.envelope import OutboxEvent
from common.outbox.items import NotAnOutboxItem, event_from_item, outbox_put
from infra.bench.report import Report
from infra.loadgen.http_load import Request, run_load
from infra.runtime.app import LocalRuntime
from infra.stack.clients import dynamodb_client, dynamodbstreams_client
from infra.stack.stack import provision
from infra.stats import percentile
from infra.template import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
RELAY = "relay (OutboxRelayFunction through the runtime)"
RAW = "raw stream read + produce (baseline)"


def section(endpoints: Endpoints, report: Report, args: argparse.Namespace) -> None:
    events = max(100, int(3_000 * args.scale))
    run = uuid.uuid4().hex[:8]
    topic, raw_topic = f"bench.outbox.{run}", f"bench.outbox.{run}.raw"
    _create_topics(endpoints, [topic, raw_topic])
    provision(endpoints, TEMPLATE)
    tables = load_template(TEMPLATE).tables
    outbox, business = tables["OutboxTable"].table_name, tables["OrdersTable"].table_name
    ddb = dynamodb_client(endpoints)
    _write(ddb, outbox, business, topic, run, events)
    print(f"  {events:,} outbox items written (one transaction each, with a business item)", flush=True)

    raw_seconds = _raw_relay(endpoints, tables["OutboxTable"].table_name, raw_topic, run)
    raw_rate = report.add(
        "outbox", f"{RAW}: events", events / raw_seconds, "events/s", "acks=all, idempotent"
    )

    with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
        runtime = LocalRuntime(TEMPLATE, endpoints, port=0, state_dir=Path(tmp), log=lambda _f, _l: None)
        runtime.start()
        try:
            runtime.wait_healthy()
            drained = _await_records(endpoints, topic, events)
            relay_seconds = (drained[-1] - drained[0]) / 1000 or 0.001
            relay_rate = report.add(
                "outbox",
                f"{RELAY}: events",
                events / relay_seconds,
                "events/s",
                "first to last record on Kafka",
            )
            report.ratio("outbox", "relay / raw stream read + produce", relay_rate, raw_rate, 0.5)

            paced = max(50, events // 10)
            latencies = _latencies(endpoints, ddb, outbox, business, topic, run, paced)
            report.add(
                "outbox",
                "commit -> on Kafka latency p50",
                percentile(latencies, 50) or 0.0,
                "ms",
                f"{paced:,} events at about 50/s, relay running",
            )
            report.add("outbox", "commit -> on Kafka latency p99", percentile(latencies, 99) or 0.0, "ms")
            _orders_rate(runtime, report, max(100, int(1_000 * args.scale)), run)
        finally:
            runtime.stop()


def _create_topics(endpoints: Endpoints, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=endpoints.require_kafka())
    try:
        admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1) for name in names])
    finally:
        admin.close()


def _event(topic: str, run: str, n: int) -> OutboxEvent:
    # 200 aggregates, so the keys spread over the partitions as a surge's orders would.
    return OutboxEvent.new(
        topic, "bench", f"{run}-{n % 200:03d}", {"n": n}, now=datetime.now(UTC), correlation_id=f"bench-{run}"
    )


def _write(ddb: Any, outbox: str, business: str, topic: str, run: str, count: int) -> None:
    def one(n: int) -> OutboxEvent:
        event = _event(topic, run, n)
        change = {
            "Put": {"TableName": business, "Item": {"pk": {"S": f"BENCH#{run}"}, "sk": {"S": f"N#{n}"}}}
        }
        ddb.transact_write_items(TransactItems=[change, outbox_put(outbox, event)])
        return event

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def _raw_relay(endpoints: Endpoints, table: str, topic: str, run: str) -> float:
    """Every INSERT of this run on the table's stream, from TRIM_HORIZON, produced to `topic`."""
    streams = dynamodbstreams_client(endpoints)
    ddb = dynamodb_client(endpoints)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    producer = KafkaProducer(bootstrap_servers=endpoints.require_kafka(), acks="all", enable_idempotence=True)
    started = time.monotonic()
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                if record["eventName"] != "INSERT":
                    continue
                try:
                    event = event_from_item(record["dynamodb"]["NewImage"])
                except NotAnOutboxItem:
                    continue
                if event.envelope.aggregateId.startswith(run):
                    producer.send(
                        topic,
                        key=event.kafka_key(),
                        value=event.kafka_value(),
                        headers=list(event.kafka_headers()),
                    )
            if not page["Records"]:
                break  # the open shard's end: nothing more written yet
            iterator = page.get("NextShardIterator")
    producer.flush()
    seconds = time.monotonic() - started
    producer.close()
    return seconds


def _await_records(endpoints: Endpoints, topic: str, count: int, timeout: float = 600) -> list[int]:
    """The Kafka timestamps (ms) of the first `count` records of `topic`, sorted."""
    consumer = KafkaConsumer(bootstrap_servers=endpoints.require_kafka(), enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(4)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    while len(stamps) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            stamps.extend(r.timestamp for r in batch)
    consumer.close()
    if len(stamps) < count:
        raise RuntimeError(f"only {len(stamps)} of {count} events reached {topic}")
    return sorted(stamps)[:count]


def _latencies(
    endpoints: Endpoints, ddb: Any, outbox: str, business: str, topic: str, run: str, count: int
) -> list[float]:
    """Write `count` events at about 50/s with the relay running; on-Kafka minus commit, per event."""
    consumer = KafkaConsumer(bootstrap_servers=endpoints.require_kafka(), enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(4)]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    committed: dict[str, float] = {}
    for n in range(count):
        event = _event(topic, f"{run}-paced", n)
        change = {
            "Put": {"TableName": business, "Item": {"pk": {"S": f"BENCH#{run}"}, "sk": {"S": f"P#{n}"}}}
        }
        ddb.transact_write_items(TransactItems=[change, outbox_put(outbox, event)])
        committed[event.event_id] = time.time() * 1000
        time.sleep(0.02)
    latencies: list[float] = []
    deadline = time.monotonic() + 120
    while len(latencies) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                event_id = dict(record.headers).get("eventId", b"").decode()
                if event_id in committed:
                    latencies.append(record.timestamp - committed.pop(event_id))
    consumer.close()
    return sorted(latencies)


def _orders_rate(runtime: LocalRuntime, report: Report, orders: int, run: str) -> None:
    products = [f"bench-{run}-p{n}" for n in range(20)]
    users = [f"bench-{run}-u{n}" for n in range(200)]
    setup = [
        Request("POST", "/products", {"productId": p, "name": p, "price": 1, "stock": 1_000_000})
        for p in products
    ]
    run_load(runtime.url, setup, 8, "products")
    placing = [
        Request(
            "POST",
            "/orders",
            {"userId": users[n % 200], "items": [{"productId": products[n % 20], "quantity": 1}]},
        )
        for n in range(orders)
    ]
    placed = run_load(runtime.url, placing, 32, "orders")
    ok = placed.by_status().get(201, 0)
    report.add(
        "outbox",
        "orders placed through the HTTP API (32 connections)",
        ok / placed.seconds,
        "orders/s",
        f"p99 {placed.latency_percentile(99, 201):.0f} ms; order + order.created in one transaction",
    )
