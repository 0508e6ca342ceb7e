"""Issue 4's figures: raw Kafka and DynamoDB Local limits, the issuer end to end through the local
runtime, and the seeds' one-transaction-per-record baseline through the same runtime."""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from common.config import Endpoints
from infra.bench.drain import drain_seconds
from infra.bench.report import Report
from infra.demo.verify import fetch_outcomes
from infra.stack.clients import dynamodb_client

REPO = Path(__file__).resolve().parents[2]
BASELINE_CODE = Path(__file__).resolve().parent / "baseline_function"
COUPONS = [f"bench-{k}" for k in range(8)]  # two per partition, like a handful of live campaigns
ROUNDS = 3  # alternating issuer/baseline rounds; medians are reported
ISSUER = "issuer (batched, this project)"
BASELINE = "baseline (1 transaction per record)"

_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Metadata:
  Surge:
    KafkaTopics:
      - {{Name: {topic}, Partitions: 4}}
      - {{Name: {topic}.dlt, Partitions: 1}}
Parameters:
  KafkaBootstrapServers: {{Type: String, Default: "127.0.0.1:9092"}}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {table}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {{AttributeName: pk, AttributeType: S}}
        - {{AttributeName: sk, AttributeType: S}}
        - {{AttributeName: gsi1pk, AttributeType: S}}
        - {{AttributeName: gsi1sk, AttributeType: S}}
      KeySchema: [{{AttributeName: pk, KeyType: HASH}}, {{AttributeName: sk, KeyType: RANGE}}]
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema: [{{AttributeName: gsi1pk, KeyType: HASH}}, {{AttributeName: gsi1sk, KeyType: RANGE}}]
          Projection: {{ProjectionType: ALL}}
  Issuer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: "{code}"
      Handler: {handler}
      Runtime: python3.11
      Timeout: 120
      MemorySize: 512
      AutoPublishAlias: live
      ProvisionedConcurrencyConfig: {{ProvisionedConcurrentExecutions: 4}}  # one per partition
      Environment:
        Variables:
          COUPONS_TABLE_NAME: {table}
          COUPON_DLT_TOPIC: {topic}.dlt
          KAFKA_BOOTSTRAP_SERVERS: !Ref KafkaBootstrapServers
          POWERTOOLS_METRICS_DISABLED: "true"
          LOG_LEVEL: WARNING
      Events:
        Requests:
          Type: SelfManagedKafka
          Properties:
            KafkaBootstrapServers: [!Ref KafkaBootstrapServers]
            Topics: [{topic}]
            ConsumerGroupId: {topic}-group
            StartingPosition: TRIM_HORIZON
            BatchSize: 500
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            SourceAccessConfigurations: [{{Type: BASIC_AUTH, URI: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x"}}]
"""


def section(endpoints: Endpoints, report: Report, args: argparse.Namespace) -> None:
    scale = args.scale
    raw_kafka(endpoints, report, int(100_000 * scale))
    raw_items = raw_dynamodb(endpoints, report, int(20_000 * scale), int(4_000 * scale))
    records = int(10_000 * scale)
    issuers = {
        ISSUER: (REPO / "functions", "coupons.handlers.issuer.lambda_handler"),
        BASELINE: (BASELINE_CODE, "baseline_issuer.lambda_handler"),
    }
    # Alternating rounds, medians: one issuer run lasts seconds and varies by +-15% between runs.
    rates: dict[str, list[float]] = {label: [] for label in issuers}
    for round_no in range(1, ROUNDS + 1):
        for label, (code, handler) in issuers.items():
            rates[label].append(issuer_rate(endpoints, label, code, handler, records))
        print(
            f"  round {round_no}/{ROUNDS}: "
            + ", ".join(f"{label.split(' ')[0]} {values[-1]:,.0f}/s" for label, values in rates.items()),
            flush=True,
        )
    note = f"median of {ROUNDS}; {records:,} requests for {len(COUPONS)} coupons, half in stock"
    medians = {
        label: report.add("coupons", f"{label}: end to end", statistics.median(values), "records/s", note)
        for label, values in rates.items()
    }
    report.ratio("coupons", "issuer / baseline", medians[ISSUER], medians[BASELINE], 5)
    report.ratio("coupons", "issuer / raw TransactWriteItems item rate", medians[ISSUER], raw_items, 0.5)


def raw_kafka(endpoints: Endpoints, report: Report, count: int) -> None:
    servers = endpoints.require_kafka()
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics([NewTopic(topic, 4, 1)])
    admin.close()
    value = json.dumps(
        {
            "requestId": str(uuid.uuid4()),
            "couponId": "c-1",
            "userId": "user-000001",
            "requestedAt": datetime.now(UTC).isoformat(),
        }
    ).encode()
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5, batch_size=256 * 1024)
    started = time.monotonic()
    for i in range(count):
        producer.send(topic, key=f"c-{i % 64}".encode(), value=value)
    producer.flush()
    report.add(
        "raw", "Kafka produce (acks=all, kafka-python)", count / (time.monotonic() - started), "records/s"
    )
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=f"{topic}-g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    started, seen = time.monotonic(), 0
    while seen < count and time.monotonic() - started < 120:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
    report.add("raw", "Kafka consume (kafka-python)", seen / (time.monotonic() - started), "records/s")
    consumer.close()


def raw_dynamodb(endpoints: Endpoints, report: Report, batch_items: int, txn_items: int) -> float:
    ddb = dynamodb_client(endpoints)
    table = f"bench-raw-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )

    def batch_write(start: int) -> None:
        items = [
            {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "v": {"S": "x" * 100}}}}
            for i in range(start, min(start + 25, batch_items))
        ]
        request: dict[str, Any] = {table: items}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    def transact(i: int) -> None:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": f"t{i}"}, "v": {"S": "x" * 100}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )

    with ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        list(pool.map(batch_write, range(0, batch_items, 25)))
        report.add(
            "raw",
            "DynamoDB Local BatchWriteItem (8 clients)",
            batch_items / (time.monotonic() - started),
            "items/s",
        )
        started = time.monotonic()
        list(pool.map(transact, range(txn_items)))
        rate = txn_items / (time.monotonic() - started)
    report.add("raw", "DynamoDB Local TransactWriteItems, 1 item (8 clients)", rate, "items/s")
    return rate


def issuer_rate(endpoints: Endpoints, label: str, code: Path, handler: str, records: int) -> float:
    """Fill a fresh topic with issue requests for 8 coupons (stock = half) and time the runtime draining
    it (see drain_seconds). Outcome rows are checked once at the end, outside the clock: polling them
    all while the issuer runs would load DynamoDB Local, the very thing measured."""
    suffix = uuid.uuid4().hex[:8]
    topic, table = f"bench.issue.{suffix}", f"bench-coupons-{suffix}"
    ddb = dynamodb_client(endpoints)
    request_ids: list[str] = []

    def fill() -> None:
        for coupon in COUPONS:
            ddb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": f"COUPON#{coupon}"},
                    "sk": {"S": "COUPON"},
                    "couponId": {"S": coupon},
                    "name": {"S": "bench"},
                    "totalQuantity": {"N": str(records // len(COUPONS) // 2)},
                    "issuedQuantity": {"N": "0"},
                    "createdAt": {"S": datetime.now(UTC).isoformat()},
                },
            )
        request_ids.extend(_fill(endpoints.require_kafka(), topic, records))

    text = _TEMPLATE.format(topic=topic, table=table, code=code, handler=handler)
    seconds = drain_seconds(endpoints, text, f"{topic}-group", records, fill)
    done = fetch_outcomes(ddb, table, request_ids)
    pending = [rid for rid in request_ids if rid not in done]
    if pending:
        raise RuntimeError(f"{label}: {len(pending):,} of {records:,} requests have no outcome")
    return records / seconds


def _fill(servers: str, topic: str, records: int) -> list[str]:
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    now = datetime.now(UTC).isoformat()
    ids = []
    for i in range(records):
        rid = str(uuid.uuid4())
        ids.append(rid)
        coupon = COUPONS[i % len(COUPONS)]
        value = {"requestId": rid, "couponId": coupon, "userId": f"user-{i:07d}", "requestedAt": now}
        # Keyed by coupon as in production; the partition is pinned so the coupons spread evenly.
        producer.send(
            topic,
            key=coupon.encode(),
            value=json.dumps(value).encode(),
            partition=(i % len(COUPONS)) % 4,
            headers=[("content-type", b"application/json")],
        )
    producer.flush()
    producer.close()
    return ids
