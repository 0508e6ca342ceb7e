"""The orders surge: products of limited stock, users with points, a burst of orders through the HTTP
API; then some pay, some cancel, some time out and some paid ones are refunded, while the data
platform is down for part of the run. The report checks conservation and exactly-once effects."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from common.config import Endpoints
from infra.cli_args import non_negative_float, non_negative_int, positive_float, positive_int, share
from infra.demo.logs import logs_kept
from infra.demo.orders_verify import OrdersState
from infra.loadgen.http_load import LoadResult, Request, run_load
from infra.loadgen.progress import Progress, elapsed_since
from infra.runtime_process import RuntimeProcess
from infra.stack.clients import dynamodb_client
from infra.stats import percentile
from infra.template import load_template

TEMPLATE = Path("template.yaml")
CONTROL = "/_surge/receiver"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=positive_int, default=500, help="users, each topped up with --points")
    parser.add_argument("--orders", type=positive_int, default=2_000, help="orders to place")
    parser.add_argument("--products", type=positive_int, default=20, help="products")
    parser.add_argument("--stock", type=non_negative_int, default=150, help="units of stock per product")
    parser.add_argument("--points", type=non_negative_int, default=1_500, help="points per user")
    parser.add_argument("--pay", type=share, default=0.6, help="share of reserved orders that pay")
    parser.add_argument("--cancel", type=share, default=0.15, help="share that cancel (the rest time out)")
    parser.add_argument("--refund", type=share, default=0.1, help="share of completed orders refunded")
    parser.add_argument("--payment-timeout", type=positive_int, default=60, help="PaymentTimeoutSeconds")
    parser.add_argument(
        "--outage", type=non_negative_float, default=20.0, help="seconds the data platform fails"
    )
    parser.add_argument("--concurrency", type=positive_int, default=32, help="client connections")
    parser.add_argument(
        "--settle-timeout", type=positive_float, default=300, help="seconds to wait for the saga"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE)


@dataclass
class OrdersDemoResult:
    placed: LoadResult
    paid: set[str]
    payment_refused: int
    too_late: int  # payments and cancels that found the order already timed out (409)
    cancelled: set[str]
    left_unpaid: set[str]
    refunded: set[str]
    state: OrdersState
    initial_stock: dict[str, int]
    initial_points: dict[str, int]
    platform: dict[str, Any]
    alert_attempts: int
    settle_seconds: float
    args: argparse.Namespace
    errors: list[str] = field(default_factory=list)

    def applied_twice(self) -> int:
        """Effects beyond once: the conservation mismatches plus notifications beyond one per payment."""
        extra_notes = sum(n - 1 for n in self.state.notifications.values() if n > 1)
        return (
            len(self.state.stock_mismatches(self.initial_stock))
            + len(self.state.points_mismatches(self.initial_points))
            + extra_notes
        )

    def platform_missing(self) -> int:
        return len(self.state.event_ids("order.completed") - set(self.platform.get("keys", [])))

    def ok(self) -> bool:
        _, pending, stuck = self.state.outbox_counts(self.alert_attempts)
        return (
            not self.errors
            and self.state.not_terminal() == 0
            and self.applied_twice() == 0
            and pending == 0
            and stuck == 0
            and self.platform_missing() == 0
            and all(self.state.notifications[o] == 1 for o in self.paid)
        )


def run(args: argparse.Namespace) -> int:
    if args.pay + args.cancel > 1:
        raise SystemExit("surge demo orders: --pay + --cancel must not exceed 1 (the rest time out)")
    print(
        f"surge demo orders: {args.orders:,} orders from {args.users:,} users for {args.products} products "
        f"of {args.stock} units; the data platform fails for {args.outage:.0f}s"
    )
    with tempfile.TemporaryDirectory(prefix="surge-demo-orders-") as tmp, logs_kept(Path(tmp), "orders"):
        print("  starting Apache Kafka, DynamoDB Local and the local runtime ...", flush=True)
        started = time.monotonic()
        # Schedules fire at most once a minute; 6x faster the payment-timeout sweep runs every 10 s.
        runtime = RuntimeProcess(
            args.template,
            Path(tmp),
            env={"SURGE_SCHEDULE_SPEEDUP": "6"},
            extra_args=["--parameter-overrides", f"PaymentTimeoutSeconds={args.payment_timeout}"],
        )
        with runtime.start():
            print(
                f"  ready in {time.monotonic() - started:.1f}s at {runtime.url} (function logs: {runtime.functions_log})"
            )
            result = surge(runtime, args)
            print(report(result))
            print("  stopping everything ...", flush=True)
    return 0 if result.ok() else 1


def _receiver(base_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def receiver_stats(base_url: str) -> dict[str, Any]:
    """What the data platform's receiver got, with every Idempotency-Key."""
    return _receiver(base_url, CONTROL + "?keys")


def receiver_fail_for(base_url: str, seconds: float) -> None:
    _receiver(base_url, CONTROL + "/fail", {"seconds": seconds})


def _receiver_base(runtime: OrdersTarget) -> str:
    receiver = runtime.status().get("receivers", {}).get("DataPlatformUrl")
    if not receiver:
        raise SystemExit("surge demo orders: the runtime started no receiver for DataPlatformUrl")
    return str(receiver["url"]).rsplit("/", 1)[0]


def _wait(label: str, check: Any, timeout: float) -> float:
    """Poll `check()` -> (done, progress text) until done; returns the seconds waited."""
    started = time.monotonic()
    text = ""

    def render() -> str:
        return f"  {label}: {text}  {elapsed_since(started):.0f}s"

    with Progress(render):
        while True:
            done, text = check()
            if done or time.monotonic() - started > timeout:
                return time.monotonic() - started
            time.sleep(1.0)


class OrdersTarget(Protocol):
    """A running template: its HTTP API, its services and its status (with the local receivers)."""

    @property
    def url(self) -> str: ...

    def endpoints(self) -> Endpoints: ...

    def status(self) -> dict[str, Any]: ...


def surge(runtime: OrdersTarget, args: argparse.Namespace) -> OrdersDemoResult:
    template = load_template(args.template)
    orders_table = template.tables["OrdersTable"].table_name
    outbox_table = template.tables["OutboxTable"].table_name
    alert_attempts = int(template.functions["OutboxSweeperFunction"].environment["OUTBOX_ALERT_ATTEMPTS"])
    ddb = dynamodb_client(runtime.endpoints())
    platform = _receiver_base(runtime)
    rng = random.Random(11)
    run = f"r{uuid.uuid4().hex[:6]}"
    products = {f"{run}-product-{n:02d}": rng.choice([20, 50, 80, 120, 200]) for n in range(args.products)}
    users = [f"{run}-user-{n:04d}" for n in range(args.users)]
    initial_stock = dict.fromkeys(products, args.stock)
    initial_points = dict.fromkeys(users, args.points)
    setup = [
        Request("POST", "/products", {"productId": p, "name": p, "price": price, "stock": args.stock})
        for p, price in products.items()
    ] + [Request("POST", f"/users/{u}/points", {"amount": args.points}) for u in users]
    errors: list[str] = []
    made = run_load(runtime.url, setup, args.concurrency, "products and points")
    if made.by_status() != {201: len(products), 200: len(users)}:
        raise SystemExit(f"surge demo orders: setting up failed: {made.by_status()}")

    placing = [
        Request(
            "POST",
            "/orders",
            {
                "userId": rng.choice(users),
                "items": [
                    {"productId": p, "quantity": rng.randint(1, 3)}
                    for p in rng.sample(list(products), rng.randint(1, 2))
                ],
            },
        )
        for _ in range(args.orders)
    ]
    placed = run_load(runtime.url, placing, args.concurrency, "orders")
    if placed.by_status() != {201: args.orders}:
        errors.append(f"placing orders answered {placed.by_status()}")
    ids = [o.body["orderId"] for o in placed.outcomes if o.status == 201]
    settle_started = time.monotonic()

    def reserved_or_rejected() -> tuple[bool, str]:
        state = OrdersState.read(ddb, orders_table, None, run)
        waiting = sum(1 for i in ids if state.status_of(i) == "CREATED")
        return waiting == 0, f"{len(ids) - waiting:,}/{len(ids):,} reserved or rejected"

    _wait("inventory", reserved_or_rejected, args.settle_timeout)
    state = OrdersState.read(ddb, orders_table, None, run)
    reserved = [i for i in ids if state.status_of(i) == "RESERVED"]
    rng.shuffle(reserved)
    n_pay, n_cancel = int(len(reserved) * args.pay), int(len(reserved) * args.cancel)
    to_pay, to_cancel = reserved[:n_pay], reserved[n_pay : n_pay + n_cancel]
    left_unpaid = set(reserved[n_pay + n_cancel :])

    receiver_fail_for(platform, args.outage)
    print(f"  data platform: failing for {args.outage:.0f}s from now", flush=True)
    paying = run_load(
        runtime.url,
        [Request("POST", f"/orders/{i}/payment", tag=i) for i in to_pay],
        args.concurrency,
        "payments",
    )
    paid = {o.request.tag for o in paying.outcomes if o.status == 200}
    refused = sum(1 for o in paying.outcomes if o.status == 402)
    # 409: the payment timeout cancelled the order first (a slow machine); that race is part of the saga.
    late = sum(1 for o in paying.outcomes if o.status == 409)
    if set(paying.by_status()) - {200, 402, 409}:
        errors.append(f"payments answered {paying.by_status()}")
    cancelling = run_load(
        runtime.url, [Request("POST", f"/orders/{i}/cancel") for i in to_cancel], args.concurrency, "cancels"
    )
    late += sum(1 for o in cancelling.outcomes if o.status == 409)
    if set(cancelling.by_status()) - {200, 409}:
        errors.append(f"cancels answered {cancelling.by_status()}")

    def completed() -> tuple[bool, str]:
        s = OrdersState.read(ddb, orders_table, None, run)
        done = sum(1 for i in paid if s.status_of(i) == "COMPLETED")
        return done == len(paid), f"{done:,}/{len(paid):,} paid orders completed"

    _wait("completion", completed, args.settle_timeout)
    refunding = sorted(paid)[: int(len(paid) * args.refund)]
    refunds = run_load(
        runtime.url, [Request("POST", f"/orders/{i}/refund") for i in refunding], args.concurrency, "refunds"
    )
    if refunds.by_status() != ({200: len(refunding)} if refunding else {}):
        errors.append(f"refunds answered {refunds.by_status()}")

    def settled() -> tuple[bool, str]:
        s = OrdersState.read(ddb, orders_table, outbox_table, run)
        _, pending, _ = s.outbox_counts(alert_attempts)
        got = set(receiver_stats(platform).get("keys", []))
        missing = len(s.event_ids("order.completed") - got)
        waiting = s.not_terminal()
        return (waiting == 0 and pending == 0 and missing == 0), (
            f"{waiting:,} orders not terminal (timeouts after {args.payment_timeout}s), {pending:,} events pending, "
            f"{missing:,} not at the data platform"
        )

    _wait("settling", settled, args.settle_timeout)
    return OrdersDemoResult(
        placed=placed,
        paid=paid,
        payment_refused=refused,
        too_late=late,
        cancelled=set(to_cancel),
        left_unpaid=left_unpaid,
        refunded=set(refunding),
        state=OrdersState.read(ddb, orders_table, outbox_table, run),
        initial_stock=initial_stock,
        initial_points=initial_points,
        platform=receiver_stats(platform),
        alert_attempts=alert_attempts,
        settle_seconds=time.monotonic() - settle_started,
        args=args,
        errors=errors,
    )


def report(result: OrdersDemoResult) -> str:
    s, placed, platform = result.state, result.placed, result.platform
    published, pending, stuck = s.outbox_counts(result.alert_attempts)
    latencies = s.publish_latencies_ms()
    stock_bad = s.stock_mismatches(result.initial_stock)
    points_bad = s.points_mismatches(result.initial_points)
    notes_ok = all(s.notifications[o] == 1 for o in result.paid)
    completed_events = s.event_ids("order.completed")
    lines = [
        "",
        "surge demo orders report",
        "-" * 72,
        f"orders placed (201)         {placed.by_status().get(201, 0):,} at {placed.by_status().get(201, 0) / placed.seconds:,.0f}/s "
        f"(p50 {placed.latency_percentile(50, 201):.1f} ms, p99 {placed.latency_percentile(99, 201):.1f} ms)",
        f"actions                     {len(result.paid):,} paid ({result.payment_refused:,} refused: points), "
        f"{len(result.cancelled):,} cancels, {len(result.left_unpaid):,} left to time out, {len(result.refunded):,} refunded",
        f"  too late (409)           {result.too_late:,} payments or cancels found the order already timed out",
        "orders by final status",
        *(f"  {status:30} {n:,}" for status, n in sorted(s.by_status().items())),
        f"  not terminal             {s.not_terminal():,} (must be 0)",
        f"saga settled in             {result.settle_seconds:.1f}s after the last order",
        "conservation",
        f"  stock                    {'yes' if not stock_bad else 'NO: ' + '; '.join(stock_bad[:3])} "
        f"(per product: initial = left + units in completed orders)",
        f"  points                   {'yes' if not points_bad else 'NO: ' + '; '.join(points_bad[:3])} "
        f"(per user: initial = left + totals of completed orders)",
        f"  stock never negative     {'yes' if min(s.stock.values(), default=0) >= 0 else 'NO'}",
        f"outbox items                {published:,} published, {pending:,} pending, {stuck:,} stuck",
        f"publish latency             commit -> on Kafka p50 {percentile(latencies, 50) or 0:.0f} ms  "
        f"p95 {percentile(latencies, 95) or 0:.0f} ms  p99 {percentile(latencies, 99) or 0:.0f} ms ({len(latencies):,} events)",
        f"events applied twice        {result.applied_twice()} (must be 0)",
        f"data platform               {len(completed_events & set(platform.get('keys', []))):,}/{len(completed_events):,} "
        f"order.completed received, {platform.get('duplicates', 0):,} duplicates (dropped by Idempotency-Key), "
        f"{platform.get('refused', 0):,} deliveries refused during the {result.args.outage:.0f}s outage",
        f"notifications               {sum(s.notifications.values()):,} for {len(result.paid):,} payments "
        f"({'exactly one each' if notes_ok else 'NOT one per payment'})",
        f"verdict                     {'OK' if result.ok() else 'FAILED'}",
    ]
    lines[-1:-1] = [f"  problem                  {e}" for e in result.errors]
    return "\n".join(lines)
