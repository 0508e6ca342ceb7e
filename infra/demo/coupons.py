"""The coupon surge: create a coupon, fire N issue requests from M users through the HTTP API, wait
until every accepted request is terminal, then report speed and check the invariants."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from common.config import Endpoints
from infra.cli_args import positive_float, positive_int
from infra.demo.logs import logs_kept
from infra.demo.verify import CouponState, fetch_outcomes, read_coupon
from infra.loadgen.http_load import LoadResult, Request, run_load
from infra.loadgen.progress import Progress, elapsed_since
from infra.runtime_process import RuntimeProcess
from infra.stack.clients import dynamodb_client
from infra.template import load_template

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TEMPLATE = Path("template.yaml")


def add_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--requests", type=positive_int, default=20_000, help="issue requests to send")
    demo.add_argument("--users", type=positive_int, default=10_000, help="distinct users (some ask twice)")
    demo.add_argument("--stock", type=positive_int, default=5_000, help="coupons available")
    demo.add_argument("--concurrency", type=positive_int, default=32, help="client connections")
    demo.add_argument("--template", type=Path, default=TEMPLATE)
    demo.add_argument(
        "--drain-timeout", type=positive_float, default=600, help="seconds to wait for all outcomes"
    )


class SurgeTarget(Protocol):
    """Where the surge goes: an HTTP API and the DynamoDB behind it (the local runtime, or a deployment)."""

    @property
    def url(self) -> str: ...

    def endpoints(self) -> Endpoints: ...


@dataclass
class DemoResult:
    load: LoadResult
    accepted: dict[str, str]  # requestId -> userId
    outcomes: dict[str, dict]
    coupon: CouponState
    drain_seconds: float
    expected_issued: int

    @property
    def not_terminal(self) -> int:
        return len(self.accepted) - len(self.outcomes)

    def ok(self) -> bool:
        return (
            self.coupon.duplicates == 0
            and self.not_terminal == 0
            and len(self.coupon.holders) == self.expected_issued == self.coupon.issued_quantity
        )


def plan_requests(coupon_id: str, requests: int, users: int, seed: int = 7) -> list[Request]:
    """Every user asks at least once (when requests >= users); the rest are repeats by random users."""
    rng = random.Random(seed)
    user_ids = [f"user-{i:06d}" for i in range(users)]
    asks = user_ids[: min(users, requests)] + [rng.choice(user_ids) for _ in range(max(0, requests - users))]
    rng.shuffle(asks)
    return [Request("POST", f"/coupons/{coupon_id}/issue", {"userId": u}, tag=u) for u in asks]


def run_demo(args: argparse.Namespace) -> int:
    print(f"surge demo: {args.requests:,} requests from {args.users:,} users for {args.stock:,} coupons")
    with tempfile.TemporaryDirectory(prefix="surge-demo-") as tmp, logs_kept(Path(tmp), "coupons"):
        print("  starting Apache Kafka, DynamoDB Local and the local runtime ...", flush=True)
        started = time.monotonic()
        with RuntimeProcess(args.template, Path(tmp)).start() as runtime:
            print(
                f"  ready in {time.monotonic() - started:.1f}s at {runtime.url} "
                f"(function logs: {runtime.functions_log})",
                flush=True,
            )
            result = surge(runtime, args)
            print(report(result, args))
            print("  stopping everything ...", flush=True)
    return 0 if result.ok() else 1


def surge(runtime: SurgeTarget, args: argparse.Namespace, table: str | None = None) -> DemoResult:
    """`table`: the coupons table's name (default: the template's, for the stack name "surge")."""
    coupon_id = f"demo-{uuid.uuid4().hex[:8]}"
    created = run_load(
        runtime.url,
        [
            Request(
                "POST",
                "/coupons",
                {"couponId": coupon_id, "name": "Surge demo coupon", "totalQuantity": args.stock},
            )
        ],
        1,
        "create coupon",
    )
    if created.outcomes[0].status != 201:
        raise SystemExit(f"surge demo: creating the coupon failed: {created.outcomes[0].body}")
    requests = plan_requests(coupon_id, args.requests, args.users)
    distinct = len({r.tag for r in requests})
    load = run_load(runtime.url, requests, args.concurrency, "issue requests")
    accepted = {o.body["requestId"]: o.request.tag for o in load.outcomes if o.status == 202}
    ddb = dynamodb_client(runtime.endpoints())
    table = table or load_template(args.template).tables["CouponsTable"].table_name
    outcomes, drain_seconds = wait_for_outcomes(ddb, table, list(accepted), args.drain_timeout, load.seconds)
    return DemoResult(
        load, accepted, outcomes, read_coupon(ddb, table, coupon_id), drain_seconds, min(args.stock, distinct)
    )


def wait_for_outcomes(
    ddb: DynamoDBClient, table: str, request_ids: list[str], timeout: float, load_seconds: float
) -> tuple[dict, float]:
    """Poll DynamoDB for outcome rows until every request has one (or the timeout passes)."""
    outcomes: dict[str, dict] = {}
    pending = list(request_ids)
    started = time.monotonic()

    def render() -> str:
        return f"  outcomes: {len(outcomes):,}/{len(request_ids):,} terminal"

    with Progress(render):
        while pending and time.monotonic() - started < timeout:
            outcomes.update(fetch_outcomes(ddb, table, pending))
            pending = [rid for rid in pending if rid not in outcomes]
            if pending:
                time.sleep(0.3)
    # The drain began with the first request: measure from there, as a user would.
    return outcomes, load_seconds + elapsed_since(started)


def report(result: DemoResult, args: argparse.Namespace) -> str:
    load = result.load
    reasons = Counter(o["reason"] for o in result.outcomes.values() if o["status"] == "REJECTED")
    issued = len(result.coupon.holders)
    lines = [
        "",
        "surge demo report",
        "-" * 60,
        f"requests sent              {len(load.outcomes):,} from {args.users:,} users, {args.concurrency} connections",
        f"HTTP statuses              {load.by_status()}",
        f"accepted (202) per second  {len(result.accepted) / load.seconds:,.0f}/s over {load.seconds:.1f}s",
        f"accept latency             p50 {load.latency_percentile(50, 202):.1f} ms  "
        f"p95 {load.latency_percentile(95, 202):.1f} ms  p99 {load.latency_percentile(99, 202):.1f} ms",
        f"end-to-end drain           {len(result.outcomes) / result.drain_seconds:,.0f} requests/s "
        f"({len(result.outcomes):,} terminal in {result.drain_seconds:.1f}s from the first request)",
        f"issued vs expected         {issued:,} / {result.expected_issued:,}  (coupon counter "
        f"{result.coupon.issued_quantity:,}, stock {result.coupon.total_quantity:,})",
        f"duplicates (must be 0)     {result.coupon.duplicates}",
        f"not terminal (must be 0)   {result.not_terminal}",
        f"rejections by reason       {dict(sorted(reasons.items()))}",
        f"verdict                    {'OK' if result.ok() else 'FAILED'}",
    ]
    return "\n".join(lines)
