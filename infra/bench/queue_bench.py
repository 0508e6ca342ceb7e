"""The waiting room's figures: the entry consumer's positions/s against a one-transaction-per-record
baseline through the same runtime, and status polls per second through the HTTP API."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer

from common.config import Endpoints
from infra.bench.drain import drain_seconds
from infra.bench.report import Report
from infra.demo.queue_verify import check_positions, read_positions
from infra.loadgen.http_load import Request, run_load
from infra.runtime.app import LocalRuntime
from infra.stack.clients import dynamodb_client

REPO = Path(__file__).resolve().parents[2]
BASELINE_CODE = Path(__file__).resolve().parent / "baseline_function"
CONCERTS = [f"bench-{k}" for k in range(4)]  # one per partition
ROUNDS = 3
CONSUMER = "entry consumer (batched, this project)"
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
  Consumer:
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
          CONCERTS_TABLE_NAME: {table}
          QUEUE_DLT_TOPIC: {topic}.dlt
          KAFKA_BOOTSTRAP_SERVERS: !Ref KafkaBootstrapServers
          POWERTOOLS_METRICS_DISABLED: "true"
          LOG_LEVEL: WARNING
      Events:
        Entries:
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
    records = int(10_000 * args.scale)
    consumers = {
        CONSUMER: (REPO / "functions", "waiting_room.handlers.entries.lambda_handler"),
        BASELINE: (BASELINE_CODE, "baseline_entries.lambda_handler"),
    }
    rates: dict[str, list[float]] = {label: [] for label in consumers}
    for round_no in range(1, ROUNDS + 1):
        for label, (code, handler) in consumers.items():
            rates[label].append(positions_rate(endpoints, label, code, handler, records))
        print(
            f"  round {round_no}/{ROUNDS}: "
            + ", ".join(f"{label.split(' (')[0]} {values[-1]:,.0f}/s" for label, values in rates.items()),
            flush=True,
        )
    note = f"median of {ROUNDS}; {records:,} entries for {len(CONCERTS)} concerts"
    medians = {
        label: report.add("queue", f"{label}: positions", statistics.median(values), "records/s", note)
        for label, values in rates.items()
    }
    report.ratio("queue", "entry consumer / baseline", medians[CONSUMER], medians[BASELINE], 5)
    poll_rate(endpoints, report, int(5_000 * args.scale))


def positions_rate(endpoints: Endpoints, label: str, code: Path, handler: str, records: int) -> float:
    suffix = uuid.uuid4().hex[:8]
    topic, table = f"bench.entries.{suffix}", f"bench-concerts-{suffix}"
    ddb = dynamodb_client(endpoints)

    def fill() -> None:
        now = datetime.now(UTC).isoformat()
        for concert in CONCERTS:
            ddb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": f"CONCERT#{concert}"},
                    "sk": {"S": "META"},
                    "concertId": {"S": concert},
                    "name": {"S": "bench"},
                    "admitPerInterval": {"N": "100"},
                    "intervalSeconds": {"N": "2"},
                    "maxActive": {"N": "300"},
                    "sessionSeconds": {"N": "600"},
                    "heartbeatSeconds": {"N": "120"},
                    "seatCount": {"N": "0"},
                    "createdAt": {"S": now},
                    "lastPosition": {"N": "0"},
                    "nextPosition": {"N": "1"},
                    "admissions": {"M": {}},
                    "version": {"N": "0"},
                },
            )
        producer = KafkaProducer(bootstrap_servers=endpoints.require_kafka(), acks="all", linger_ms=5)
        for i in range(records):
            concert = CONCERTS[i % len(CONCERTS)]
            value = {
                "entryId": f"{concert}.{uuid.uuid4().hex}",
                "concertId": concert,
                "userId": f"fan-{i:07d}",
                "requestedAt": now,
            }
            producer.send(topic, key=concert.encode(), value=json.dumps(value).encode(), partition=i % 4)
        producer.flush()
        producer.close()

    seconds = drain_seconds(
        endpoints,
        _TEMPLATE.format(topic=topic, table=table, code=code, handler=handler),
        f"{topic}-group",
        records,
        fill,
    )
    for concert in CONCERTS:
        check = check_positions(read_positions(ddb, table, concert))
        if not check.gapless or check.count != records // len(CONCERTS):
            raise RuntimeError(f"{label}: {concert} has {check.count} positions, gapless={check.gapless}")
    return records / seconds


def poll_rate(endpoints: Endpoints, report: Report, polls: int) -> None:
    """Status polls through the HTTP API of the real template: entries positioned first, then polled."""
    with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
        runtime = LocalRuntime(
            REPO / "template.yaml", endpoints, port=0, state_dir=Path(tmp), log=lambda _f, _l: None
        )
        runtime.start()
        try:
            runtime.wait_healthy()
            concert = f"bench-poll-{uuid.uuid4().hex[:6]}"
            body = {
                "name": "bench",
                "admitPerInterval": 100,
                "intervalSeconds": 2,
                "maxActive": 300,
                "seatCount": 10,
            }
            run_load(runtime.url, [Request("PUT", f"/concerts/{concert}", body)], 1, "concert")
            entered = run_load(
                runtime.url,
                [Request("POST", f"/concerts/{concert}/queue", {"userId": f"fan-{i}"}) for i in range(500)],
                16,
                "entries",
            )
            entries = [o.body["entryId"] for o in entered.outcomes if o.status == 202]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                probe = run_load(runtime.url, [Request("GET", f"/queue-entries/{entries[-1]}")], 1, "probe")
                if probe.outcomes[0].status == 200:
                    break
                time.sleep(0.5)
            load = run_load(
                runtime.url,
                [Request("GET", f"/queue-entries/{entries[i % len(entries)]}") for i in range(polls)],
                32,
                "polls",
            )
        finally:
            runtime.stop()
    ok = load.by_status().get(200, 0)
    report.add(
        "queue",
        "status polls through the HTTP API (32 connections)",
        ok / load.seconds,
        "polls/s",
        f"p99 {load.latency_percentile(99, 200):.0f} ms; each poll: 1 BatchGetItem of 2 items",
    )
