"""Reading the outcome of a waiting-room surge straight from DynamoDB and Kafka (demo and tests)."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer, TopicPartition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class PositionedEntry:
    entry_id: str
    user_id: str
    position: int
    state: str


def read_positions(client: DynamoDBClient, table: str, concert_id: str) -> list[PositionedEntry]:
    """Every positioned entry of the concert, in position order (the admission index)."""
    entries: list[PositionedEntry] = []
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"QUEUE#{concert_id}"}},
    )
    for page in pages:
        for item in page.get("Items", []):
            entries.append(
                PositionedEntry(
                    item["entryId"]["S"], item["userId"]["S"], int(item["position"]["N"]), item["state"]["S"]
                )
            )
    return entries


@dataclass
class PositionCheck:
    count: int
    gapless: bool  # positions are exactly 1..count
    users_twice: int  # users with more than one positioned entry
    out_of_offset_order: int  # adjacent positions whose records are in the opposite offset order

    def ok(self) -> bool:
        return self.gapless and self.users_twice == 0 and self.out_of_offset_order == 0


def check_positions(
    entries: list[PositionedEntry], offsets: dict[str, tuple[int, int]] | None = None
) -> PositionCheck:
    positions = sorted(e.position for e in entries)
    users = Counter(e.user_id for e in entries)
    inversions = 0
    if offsets is not None:
        ordered = [
            offsets[e.entry_id] for e in sorted(entries, key=lambda e: e.position) if e.entry_id in offsets
        ]
        inversions = sum(1 for a, b in itertools.pairwise(ordered) if a[0] == b[0] and a[1] > b[1])
    return PositionCheck(
        count=len(entries),
        gapless=positions == list(range(1, len(entries) + 1)),
        users_twice=sum(1 for n in users.values() if n > 1),
        out_of_offset_order=inversions,
    )


def entry_offsets(
    bootstrap_servers: str, topic: str, concert_ids: set[str], timeout: float = 30.0
) -> dict[str, tuple[int, int]]:
    """entryId -> (partition, offset) of its record, read back from the topic (bounded by its end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: dict[str, tuple[int, int]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        value: dict[str, Any] = json.loads(record.value)
                    except (TypeError, ValueError):
                        continue
                    if isinstance(value, dict) and value.get("concertId") in concert_ids:
                        found[str(value.get("entryId"))] = (record.partition, record.offset)
        return found
    finally:
        consumer.close()


def wait_positioned(client: DynamoDBClient, table: str, entry_ids: list[str], timeout: float) -> set[str]:
    """Poll until every entry id has its item (a positioned entry or an alias); returns those found."""
    found: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [e for e in entry_ids if e not in found]
        for start in range(0, len(pending), 100):
            request: dict[str, Any] = {
                table: {
                    "Keys": [
                        {"pk": {"S": f"ENTRY#{e}"}, "sk": {"S": "ENTRY"}}
                        for e in pending[start : start + 100]
                    ],
                    "ProjectionExpression": "entryId",
                }
            }
            while request:
                response = client.batch_get_item(RequestItems=request)
                found.update(item["entryId"]["S"] for item in response["Responses"].get(table, []))
                request = response.get("UnprocessedKeys") or {}
        if len(found) == len(set(entry_ids)):
            break
        time.sleep(0.5)
    return found
