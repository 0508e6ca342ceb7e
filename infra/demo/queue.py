"""The waiting-room surge: a concert, a burst of queue entries through the HTTP API, paced admission
of an audience that polls, takes tokens and holds seats; then a report and the invariants."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.cli_args import positive_float, positive_int, share
from infra.demo.audience import Audience, AudienceLog, Behaviour, Sampler, pacing_violations
from infra.demo.logs import logs_kept
from infra.demo.queue_verify import (
    PositionCheck,
    check_positions,
    entry_offsets,
    read_positions,
    wait_positioned,
)
from infra.loadgen.http_load import LoadResult, Request, run_load
from infra.runtime_process import RuntimeProcess
from infra.stack.clients import dynamodb_client
from infra.template import load_template

TEMPLATE = Path("template.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=positive_int, default=6_000, help="queue entry requests to send")
    parser.add_argument("--users", type=positive_int, default=5_000, help="distinct users (some enter twice)")
    parser.add_argument(
        "--audience", type=positive_int, default=600, help="users at the front who poll and act"
    )
    parser.add_argument("--silent", type=share, default=0.1, help="share of the audience that never polls")
    parser.add_argument("--admit", type=positive_int, default=100, help="admitPerInterval (N)")
    parser.add_argument("--interval", type=positive_int, default=2, help="intervalSeconds (M)")
    parser.add_argument("--max-active", type=positive_int, default=300, help="maxActive")
    parser.add_argument("--session", type=positive_int, default=12, help="sessionSeconds")
    parser.add_argument("--heartbeat", type=positive_int, default=8, help="heartbeatSeconds")
    parser.add_argument("--seats", type=positive_int, default=400, help="seats of the concert")
    parser.add_argument("--run", type=positive_float, default=30.0, help="seconds of admission to watch")
    parser.add_argument(
        "--concurrency", type=positive_int, default=32, help="client connections for the entry burst"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE)


@dataclass
class QueueDemoResult:
    load: LoadResult
    positioned_seconds: float
    positions: PositionCheck
    samples: list[tuple[float, dict[str, Any]]]
    audience: AudienceLog
    silent_walked: int
    silent_admitted: int
    pacing: list[str]
    seats_double_held: int
    args: argparse.Namespace

    def max_active(self) -> int:
        return max((s["active"] for _, s in self.samples), default=0)

    def ok(self) -> bool:
        return (
            self.positions.ok()
            and self.max_active() <= self.args.max_active
            and not self.pacing
            and self.silent_admitted == 0
            and self.seats_double_held == 0
            and not self.audience.errors
        )


def run(args: argparse.Namespace) -> int:
    if args.users > args.entries:
        raise SystemExit(
            "surge demo queue: --users must not exceed --entries (each user enters at least once)"
        )
    print(
        f"surge demo queue: {args.entries:,} entries from {args.users:,} users; the first {args.audience:,} poll"
    )
    with tempfile.TemporaryDirectory(prefix="surge-demo-queue-") as tmp, logs_kept(Path(tmp), "queue"):
        print("  starting Apache Kafka, DynamoDB Local and the local runtime ...", flush=True)
        started = time.monotonic()
        # Schedules fire at most once a minute; 60x faster, the admitter starts within a second (it then
        # paces every interval itself on the real clock). On AWS the first admission run is at the next minute.
        env = {"SURGE_SCHEDULE_SPEEDUP": "60"}
        with RuntimeProcess(args.template, Path(tmp), env=env).start() as runtime:
            print(
                f"  ready in {time.monotonic() - started:.1f}s at {runtime.url} (function logs: {runtime.functions_log})"
            )
            result = surge(runtime, args)
            print(report(result))
            print("  stopping everything ...", flush=True)
    return 0 if result.ok() else 1


def surge(runtime: RuntimeProcess, args: argparse.Namespace) -> QueueDemoResult:
    template = load_template(args.template)
    table = template.tables["ConcertsTable"].table_name
    topic = template.functions["QueueApiFunction"].environment["QUEUE_ENTRY_TOPIC"]
    concert = f"demo-{uuid.uuid4().hex[:8]}"
    body = {
        "name": "Surge demo concert",
        "admitPerInterval": args.admit,
        "intervalSeconds": args.interval,
        "maxActive": args.max_active,
        "sessionSeconds": args.session,
        "heartbeatSeconds": args.heartbeat,
        "seatCount": args.seats,
    }
    setup = run_load(runtime.url, [Request("PUT", f"/concerts/{concert}", body)], 1, "create concert")
    if setup.outcomes[0].status != 201:
        raise SystemExit(f"surge demo queue: creating the concert failed: {setup.outcomes[0].body}")
    run_load(runtime.url, [Request("POST", f"/concerts/{concert}/queue/pause")], 1, "pause")

    rng = random.Random(9)
    users = [f"fan-{i:06d}" for i in range(args.users)]
    asks = users + [rng.choice(users) for _ in range(args.entries - args.users)]
    rng.shuffle(asks)
    load = run_load(
        runtime.url,
        [Request("POST", f"/concerts/{concert}/queue", {"userId": u}, tag=u) for u in asks],
        args.concurrency,
        "queue entries",
    )
    answered = {o.body["entryId"]: o.request.tag for o in load.outcomes if o.status in (200, 202)}
    ddb = dynamodb_client(runtime.endpoints())
    waited = time.monotonic()
    wait_positioned(ddb, table, list(answered), timeout=600)
    positioned_seconds = load.seconds + (time.monotonic() - waited)
    offsets = entry_offsets(runtime.endpoints().require_kafka(), topic, {concert})
    entries = read_positions(ddb, table, concert)
    positions = check_positions(entries, offsets)

    front = sorted(entries, key=lambda e: e.position)[: args.audience]
    silent = {e.entry_id for e in rng.sample(front, int(len(front) * args.silent))}
    behaviour = Behaviour(
        take_token=True, seats_to_hold=2, seat_ids=[str(i) for i in range(1, args.seats + 1)]
    )
    audience = Audience(
        runtime.url, concert, [e.entry_id for e in front if e.entry_id not in silent], behaviour
    ).start()
    print(
        f"  {len(front) - len(silent):,} users poll, {len(silent):,} never do; waiting {args.heartbeat + 1}s "
        "so the silent ones are past their heartbeat, then admission resumes",
        flush=True,
    )
    time.sleep(args.heartbeat + 1)
    sampler = Sampler(runtime.url, concert).start()
    run_load(runtime.url, [Request("POST", f"/concerts/{concert}/queue/resume")], 1, "resume")
    time.sleep(args.run)
    audience.stop()
    sampler.stop()

    after = {e.entry_id: e for e in read_positions(ddb, table, concert)}
    serving = sampler.samples[-1][1]["servingPosition"] if sampler.samples else 0
    walked = {e for e in silent if after[e].position <= serving}
    held = Counter(hold["seatId"] for hold in audience.log.holds)
    return QueueDemoResult(
        load=load,
        positioned_seconds=positioned_seconds,
        positions=positions,
        samples=sampler.samples,
        audience=audience.log,
        silent_walked=len(walked),
        silent_admitted=len(silent & audience.log.ever_active),
        pacing=pacing_violations(sampler, args.admit, args.interval),
        seats_double_held=sum(n - 1 for n in held.values() if n > 1),
        args=args,
    )


def _timeline(result: QueueDemoResult) -> list[str]:
    """Admitted and active at the end of each interval, against N and maxActive."""
    a = result.args
    lines = [
        f"  {'t (s)':>6} {'admitted':>9} {'+this interval':>15} {'active':>7}   (N {a.admit} per {a.interval}s, maxActive {a.max_active})"
    ]
    last_admitted, next_t = 0, 0.0
    for t, s in result.samples:
        if t + 1e-9 < next_t:
            continue
        lines.append(f"  {t:6.1f} {s['admitted']:9,} {s['admitted'] - last_admitted:15,} {s['active']:7,}")
        last_admitted, next_t = s["admitted"], next_t + a.interval
    return lines


def report(result: QueueDemoResult) -> str:
    load, log, p = result.load, result.audience, result.positions
    accepted = load.by_status().get(202, 0)
    final = result.samples[-1][1] if result.samples else {}
    ok = "OK" if result.ok() else "FAILED"
    lines = [
        "",
        "surge demo queue report",
        "-" * 72,
        f"entries sent               {len(load.outcomes):,} ({load.by_status()}; 200 = the user's existing entry)",
        f"accepted (202) per second  {accepted / load.seconds:,.0f}/s over {load.seconds:.1f}s",
        f"accept latency             p50 {load.latency_percentile(50, 202):.1f} ms  "
        f"p95 {load.latency_percentile(95, 202):.1f} ms  p99 {load.latency_percentile(99, 202):.1f} ms",
        f"positioned per second      {p.count / result.positioned_seconds:,.0f}/s "
        f"({p.count:,} positions in {result.positioned_seconds:.1f}s from the first request)",
        "admission timeline",
        *_timeline(result),
        f"abandoned users skipped    {result.silent_walked:,} silent users reached, {final.get('abandoned', 0):,} marked abandoned",
        f"  poll round (p50 / max)   {statistics.median(log.rounds or [0.0]):.1f}s / {max(log.rounds, default=0):.1f}s per user "
        f"(a poller whose round exceeds heartbeatSeconds={result.args.heartbeat} is abandoned too)",
        f"completed / left early     {len(log.completed):,} / {len(log.left):,} (their slots went to the next users)",
        f"tokens minted              {len(log.tokens):,}",
        f"seat holds                 {len(log.holds):,} held; answers {dict(sorted(log.hold_statuses.items()))}",
        *(f"  refused                  {n:,} x {why}" for why, n in sorted(log.hold_refusals.items())),
        f"status polls               {log.polls:,}",
        "invariants",
        f"  positions 1..n, unique   {'yes' if p.gapless and p.users_twice == 0 else 'NO'} ({p.count:,} positions, {p.users_twice} users twice)",
        f"  in Kafka offset order    {'yes' if p.out_of_offset_order == 0 else f'NO ({p.out_of_offset_order} inversions)'}",
        f"  active <= maxActive      {'yes' if result.max_active() <= result.args.max_active else 'NO'} (peak {result.max_active():,})",
        f"  admitted <= N per M      {'yes' if not result.pacing else 'NO: ' + '; '.join(result.pacing[:3])}",
        f"  silent users admitted    {result.silent_admitted} (must be 0)",
        f"  seats double held        {result.seats_double_held} (must be 0)",
        f"verdict                    {ok}",
    ]
    if log.errors:
        lines.insert(-1, f"  client errors            {len(log.errors)}: {log.errors[0]}")
    return "\n".join(lines)
