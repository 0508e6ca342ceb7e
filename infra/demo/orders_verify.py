"""Reading back an orders surge from DynamoDB (the demo's own stack, so whole-table scans are this
run's data) and checking its invariants: conservation of stock and points, terminal orders, the
outbox drained, one notification per payment, every order.completed at the data platform."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TERMINAL = {"COMPLETED", "CANCELLED", "REFUNDED"}


def scan(ddb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page.get("Items", []))
    return items


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


@dataclass
class OrdersState:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # orderId -> item
    stock: dict[str, int] = field(default_factory=dict)  # productId -> stock left
    points: dict[str, int] = field(default_factory=dict)  # userId -> balance left
    notifications: Counter[str] = field(default_factory=Counter)  # orderId -> notifications
    outbox: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, ddb: DynamoDBClient, orders_table: str, outbox_table: str | None, run: str) -> OrdersState:
        """This run's items only: its users and products are named `<run>-...`, and its orders and
        their events belong to those users (the tables may hold other runs' data). Without
        `outbox_table` the events are not read (a scan of every event, for a wait that needs none)."""
        state = cls()
        notifications: list[dict[str, Any]] = []
        for item in scan(ddb, orders_table):
            entity = item.get("entity", {}).get("S")
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if entity == "ORDER" and item["userId"]["S"].startswith(run):
                state.orders[item["orderId"]["S"]] = item
            elif sk == "PRODUCT" and item["productId"]["S"].startswith(run):
                state.stock[item["productId"]["S"]] = int(item["stock"]["N"])
            elif sk == "POINTS" and pk.removeprefix("USER#").startswith(run):
                state.points[pk.removeprefix("USER#")] = int(item["balance"]["N"])
            elif entity == "NOTIFICATION":
                notifications.append(item)
        for item in notifications:
            if item["orderId"]["S"] in state.orders:
                state.notifications[item["orderId"]["S"]] += 1
        if outbox_table is None:
            return state
        state.outbox = [
            i
            for i in scan(ddb, outbox_table)
            if i.get("entity", {}).get("S") == "OUTBOX" and i["aggregateId"]["S"] in state.orders
        ]
        return state

    def by_status(self) -> Counter[str]:
        return Counter(
            f"{o['status']['S']} ({o['reason']['S']})" if "reason" in o else o["status"]["S"]
            for o in self.orders.values()
        )

    def status_of(self, order_id: str) -> str:
        return str(self.orders[order_id]["status"]["S"])

    def not_terminal(self) -> int:
        return sum(1 for o in self.orders.values() if o["status"]["S"] not in TERMINAL)

    def completed(self) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["status"]["S"] == "COMPLETED"]

    def stock_mismatches(self, initial: dict[str, int]) -> list[str]:
        """initial = left + units in completed orders (refunds and cancels gave theirs back)."""
        units: Counter[str] = Counter()
        for order in self.completed():
            for line in json.loads(order["items"]["S"]):
                units[line["productId"]] += line["quantity"]
        return [
            f"{p}: {initial[p]} != {self.stock.get(p)} left + {units[p]} sold"
            for p in initial
            if self.stock.get(p, -1) < 0 or initial[p] != self.stock.get(p, 0) + units[p]
        ]

    def points_mismatches(self, initial: dict[str, int]) -> list[str]:
        spent: Counter[str] = Counter()
        for order in self.completed():
            spent[order["userId"]["S"]] += int(order["total"]["N"])
        return [
            f"{u}: {initial[u]} != {self.points.get(u)} left + {spent[u]} spent"
            for u in initial
            if initial[u] != self.points.get(u, 0) + spent[u]
        ]

    def outbox_counts(self, alert_attempts: int) -> tuple[int, int, int]:
        published = sum(1 for i in self.outbox if i["status"]["S"] == "PUBLISHED")
        pending = len(self.outbox) - published
        stuck = sum(
            1
            for i in self.outbox
            if i["status"]["S"] != "PUBLISHED" and int(i["publishAttempts"]["N"]) >= alert_attempts
        )
        return published, pending, stuck

    def publish_latencies_ms(self) -> list[float]:
        """Commit (occurredAt) to on Kafka (the record's timestamp, kept by the confirmer)."""
        return sorted(
            float(i["onKafkaAt"]["N"]) - _ms(i["occurredAt"]["S"]) for i in self.outbox if "onKafkaAt" in i
        )

    def event_ids(self, event_type: str) -> set[str]:
        return {i["eventId"]["S"] for i in self.outbox if i["eventType"]["S"] == event_type}
