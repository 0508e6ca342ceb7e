"""`surge dlt list | show | redrive`: look at and re-drive the template's dead-letter topics."""

from __future__ import annotations

import argparse
import base64
import functools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError

from infra.cli_args import non_negative_int, positive_float, positive_int
from infra.dlt.catalog import DeadLetterTopic, find_dead_letter_topic, load_dead_letter_topics
from infra.dlt.connection import KafkaConnection, add_connection_options, connection_from_args
from infra.dlt.messages import (
    DeadLetter,
    NotADeadLetter,
    describe_bytes,
    describe_headers,
    iso_ms,
    parse_dead_letter,
)
from infra.dlt.reader import beginning_and_end, open_consumer, read_until, topic_partitions
from infra.dlt.redrive import (
    DEFAULT_MAX_REDRIVES,
    RedrivePlan,
    Redriver,
    RedriveReport,
    reason_label,
    redrive_group,
)
from infra.dlt.selection import Selection, parse_time
from infra.stack.errors import StackError

DEFAULT_TEMPLATE = Path("template.yaml")


def add_parser(commands: argparse._SubParsersAction) -> None:
    dlt = commands.add_parser("dlt", help="list, inspect and re-drive the template's dead-letter topics")
    sub = dlt.add_subparsers(dest="dlt_command", required=True)

    listing = sub.add_parser(
        "list", help="every DLT: messages by condition / errorType / reason, oldest, newest"
    )
    _common(listing)
    listing.set_defaults(handler=_kafka_errors(_list))

    show = sub.add_parser("show", help="each dead letter decoded: source, key, value, headers, failure")
    show.add_argument("topic", metavar="TOPIC", help="a dead-letter topic of the template")
    show.add_argument("--limit", type=positive_int, default=20, help="show at most N (default 20)")
    _filters(show)
    show.add_argument("--json", action="store_true", help="one JSON object per line, bytes as base64")
    _common(show)
    show.set_defaults(handler=_kafka_errors(_show))

    redrive = sub.add_parser(
        "redrive",
        help="re-publish the original records to their source topic (or --to), each dead letter once",
        description=(
            "Re-publishes the original records: same key, value bytes and headers, plus the headers "
            "surge-redrive-count and surge-redrive-origin. Resumable: running the same command again "
            "continues where it stopped and never sends a dead letter twice."
        ),
    )
    redrive.add_argument("topic", metavar="TOPIC", help="a dead-letter topic of the template")
    _filters(redrive)
    redrive.add_argument("--max", type=positive_int, dest="max_messages", help="send at most N, then stop")
    redrive.add_argument("--rate", type=positive_float, metavar="N", help="at most N records per second")
    redrive.add_argument("--dry-run", action="store_true", help="send and commit nothing; show what would go")
    redrive.add_argument("--to", metavar="TOPIC", help="send here instead of each record's source topic")
    redrive.add_argument(
        "--max-redrives",
        type=non_negative_int,
        default=DEFAULT_MAX_REDRIVES,
        help=f"skip records re-driven this often already (loop guard; default {DEFAULT_MAX_REDRIVES})",
    )
    _common(redrive)
    redrive.set_defaults(handler=_kafka_errors(_redrive))


def _kafka_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A broker error (authentication, authorization, timeouts) is a one-line message, not a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except KafkaError as exc:
            raise StackError(f"Kafka: {type(exc).__name__}: {exc}") from exc

    return run


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", "-t", type=Path, default=DEFAULT_TEMPLATE)
    add_connection_options(parser)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reason", metavar="R", help="condition or errorType (exact, any case), or part of the reason text"
    )
    parser.add_argument(
        "--since", metavar="TIME", help="dead-lettered at or after (ISO 8601, or 30m/2h/1d ago)"
    )
    parser.add_argument("--until", metavar="TIME", help="dead-lettered before (ISO 8601, or 30m/2h/1d ago)")


def _selection(args: argparse.Namespace) -> Selection:
    try:
        return Selection(
            reason=args.reason,
            since_ms=parse_time(args.since) if args.since else None,
            until_ms=parse_time(args.until) if args.until else None,
        )
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise StackError(str(exc)) from exc


# ---- reading a whole DLT ---------------------------------------------------------------------


@dataclass
class Unreadable:
    origin: str
    timestamp_ms: int
    why: str


def read_dead_letters(connection: KafkaConnection, topic: str) -> Iterator[DeadLetter | Unreadable]:
    """Every message of the DLT, from its beginning to its end now."""
    consumer = open_consumer(connection)
    try:
        parts = topic_partitions(consumer, topic, connection)
        begin, end = beginning_and_end(consumer, parts)
        for record in read_until(consumer, begin, end):
            try:
                yield parse_dead_letter(
                    record.topic, record.partition, record.offset, record.timestamp, record.value
                )
            except NotADeadLetter as exc:
                yield Unreadable(
                    f"{record.topic}/{record.partition}/{record.offset}", record.timestamp, str(exc)
                )
    finally:
        consumer.close()


# ---- list --------------------------------------------------------------------------------------


@dataclass
class DltSummary:
    messages: int = 0
    unreadable: int = 0
    by_condition: Counter[str] = field(default_factory=Counter)
    by_error_type: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    oldest_ms: int | None = None
    newest_ms: int | None = None

    def add(self, entry: DeadLetter | Unreadable) -> None:
        self.messages += 1
        timestamp = entry.timestamp_ms if isinstance(entry, Unreadable) else entry.dlt_timestamp_ms
        self.oldest_ms = timestamp if self.oldest_ms is None else min(self.oldest_ms, timestamp)
        self.newest_ms = timestamp if self.newest_ms is None else max(self.newest_ms, timestamp)
        if isinstance(entry, Unreadable):
            self.unreadable += 1
            return
        self.by_condition[entry.condition] += 1
        self.by_error_type[entry.error_type or "-"] += 1
        if entry.reason:
            self.by_reason[entry.reason] += 1


def summarize(connection: KafkaConnection, topic: str) -> DltSummary:
    summary = DltSummary()
    for entry in read_dead_letters(connection, topic):
        summary.add(entry)
    return summary


def _list(args: argparse.Namespace) -> int:
    topics = load_dead_letter_topics(args.template)
    if not topics:
        print(f"{args.template} has no kafka:// on-failure destinations, so no dead-letter topics")
        return 0
    connection = connection_from_args(args)
    print(f"dead-letter topics of {args.template} on {connection.bootstrap_servers} ({connection.source})")
    for dlt in topics.values():
        print(_format_summary(dlt, _summary_or_error(connection, dlt)))
    return 0


def _summary_or_error(connection: KafkaConnection, dlt: DeadLetterTopic) -> DltSummary | str:
    try:
        return summarize(connection, dlt.topic)
    except StackError as exc:
        return str(exc)


def _format_summary(dlt: DeadLetterTopic, summary: DltSummary | str) -> str:
    sources = ", ".join(f"{s.topic} ({s.name})" for s in dlt.sources)
    lines = [f"\n{dlt.topic}", f"  source       {sources}"]
    if not dlt.declared:
        lines.append("  warning      not declared in Metadata.Surge.KafkaTopics, so nothing creates it")
    if isinstance(summary, str):
        lines.append(f"  error        {summary}")
        return "\n".join(lines)
    lines.append(f"  messages     {summary.messages}")
    if not summary.messages:
        return "\n".join(lines)
    lines.append(f"  oldest       {iso_ms(summary.oldest_ms)}")
    lines.append(f"  newest       {iso_ms(summary.newest_ms)}")
    lines.append(f"  condition    {_counts(summary.by_condition)}")
    lines.append(f"  errorType    {_counts(summary.by_error_type)}")
    if summary.by_reason:
        lines.append("  reason")
        lines.extend(f"    {count:6}  {reason}" for reason, count in summary.by_reason.most_common(10))
        if len(summary.by_reason) > 10:
            lines.append(f"    ... {len(summary.by_reason) - 10} more reasons (surge dlt show --reason)")
    if summary.unreadable:
        lines.append(
            f"  unreadable   {summary.unreadable} (not a surge/AWS dead letter; surge dlt show lists why)"
        )
    return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common())


# ---- show --------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    find_dead_letter_topic(args.template, args.topic)
    selection = _selection(args)
    connection = connection_from_args(args)
    shown = matching = 0
    for entry in read_dead_letters(connection, args.topic):
        if isinstance(entry, Unreadable):
            if selection.reason is not None or not selection.matches_time(entry.timestamp_ms):
                continue
        elif not selection.matches(entry):
            continue
        matching += 1
        if shown >= args.limit:
            continue
        shown += 1
        if args.json:
            print(json.dumps(letter_json(entry)), flush=True)
        else:
            print(format_letter(entry), flush=True)
    if not args.json:
        more = f"; {matching - shown} more (raise --limit)" if matching > shown else ""
        print(f"\n{shown} shown of {matching} matching in {args.topic}{more}")
    return 0


def letter_json(entry: DeadLetter | Unreadable) -> dict[str, Any]:
    if isinstance(entry, Unreadable):
        return {
            "dlt": entry.origin,
            "dltTimestamp": iso_ms(entry.timestamp_ms),
            "error": f"not a surge/AWS dead letter: {entry.why}",
        }
    record = entry.record
    return {
        "dlt": entry.origin,
        "dltTimestamp": iso_ms(entry.dlt_timestamp_ms),
        "format": entry.format,
        "condition": entry.condition,
        "errorType": entry.error_type,
        "reason": entry.reason,
        "attempts": entry.attempts,
        "failedAt": entry.failed_at,
        "functionArn": entry.function_arn,
        "source": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": iso_ms(record.timestamp_ms),
        },
        "redriveCount": record.redrive_count,
        "key": _bytes_json(record.key),
        "value": _bytes_json(record.value),
        "headers": [{"name": name, **_data_json(value)} for name, value in record.headers],
    }


def _bytes_json(data: bytes | None) -> dict[str, Any] | None:
    return None if data is None else _data_json(data)


def _data_json(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"base64": base64.b64encode(data).decode("ascii")}
    kind, text = describe_bytes(data)
    if kind == "json":
        out["json"] = json.loads(data)
    elif kind == "text":
        out["text"] = text
    return out


def format_letter(entry: DeadLetter | Unreadable) -> str:
    if isinstance(entry, Unreadable):
        return f"\n{entry.origin}  dead-lettered {iso_ms(entry.timestamp_ms)}\n  not a surge/AWS dead letter: {entry.why}"
    record = entry.record
    failure = [entry.condition]
    if entry.error_type:
        failure.append(f"errorType {entry.error_type}")
    if entry.attempts is not None:
        failure.append(f"attempts {entry.attempts}")
    if entry.failed_at:
        failure.append(f"at {entry.failed_at}")
    lines = [
        f"\n{entry.origin}  dead-lettered {iso_ms(entry.dlt_timestamp_ms)}",
        f"  failure    {'  '.join(failure)}",
    ]
    if entry.reason:
        lines.append(f"  reason     {entry.reason}")
    lines.append(
        f"  source     {record.topic} partition {record.partition} offset {record.offset}"
        f"  (record time {iso_ms(record.timestamp_ms)})"
    )
    lines.extend(_bytes_lines("key", record.key))
    lines.extend(_bytes_lines("value", record.value))
    headers = describe_headers(record.headers)
    if not headers:
        lines.append("  headers    none")
    for index, (name, kind, text) in enumerate(headers):
        label = "headers" if index == 0 else ""
        lines.append(f"  {label:10} {name} = {'base64:' if kind == 'base64' else ''}{text}")
    lines.append(f"  re-driven  {record.redrive_count} times")
    return "\n".join(lines)


def _bytes_lines(label: str, data: bytes | None) -> list[str]:
    kind, text = describe_bytes(data)
    if kind == "null":
        return [f"  {label:10} null"]
    if kind == "json":
        body = text.splitlines()
        return [f"  {label:10} (JSON) {body[0]}", *(f"  {'':10} {line}" for line in body[1:])]
    return [f"  {label:10} ({kind}) {text}"]


# ---- redrive -----------------------------------------------------------------------------------


def _redrive(args: argparse.Namespace) -> int:
    find_dead_letter_topic(args.template, args.topic)
    selection = _selection(args)
    connection = connection_from_args(args)
    # The same DLT and selection resume the same re-drive; --max and --rate may change between runs.
    group = redrive_group(args.topic, args.reason, args.since, args.until, args.to, args.max_redrives)
    plan = RedrivePlan(
        dlt_topic=args.topic,
        group_id=group,
        selection=selection,
        max_redrives=args.max_redrives,
        max_messages=args.max_messages,
        rate=args.rate,
        to_topic=args.to,
        dry_run=args.dry_run,
    )
    where = f"--to {args.to}" if args.to else "each record's source topic"
    print(f"re-driving {args.topic} -> {where} on {connection.bootstrap_servers} ({connection.source})")
    print(f"  progress kept in consumer group {group}")
    if args.dry_run:
        print("  DRY RUN: nothing is sent and nothing is committed")
    redriver = Redriver(connection, plan, progress=lambda line: print(line, flush=True))
    try:
        report = redriver.run()
    except KeyboardInterrupt:
        print(
            f"\ninterrupted after sending {redriver.report.sent}: run the same command again to resume "
            "(nothing is sent twice)",
            flush=True,
        )
        return 130
    print(format_report(report, plan))
    return 0


def format_report(report: RedriveReport, plan: RedrivePlan) -> str:
    verb = "would send" if plan.dry_run else "sent"
    lines = [
        f"\n{report.total} dead letters after this re-drive's position ({report.already_done} handled by earlier runs)",
        f"  {verb:12} {report.sent}",
    ]
    if report.by_reason:
        lines.append(f"  by reason    {_counts(report.by_reason)}")
    if report.by_target:
        lines.append(f"  to           {_counts(report.by_target)}")
    skipped = [
        (report.not_selected, "not selected (--reason/--since/--until)"),
        (report.loop_guarded, f"loop guard: re-driven {plan.max_redrives} times already (--max-redrives)"),
        (report.unreadable, "not a surge/AWS dead letter"),
        (report.sent_before_crash, "sent already by the interrupted run"),
    ]
    for count, why in skipped:
        if count:
            lines.append(f"  skipped {count:4} {why}")
    for letter in report.guarded:
        lines.append(
            f"      {letter.origin}  {reason_label(letter)}  re-driven {letter.record.redrive_count} times"
        )
    for origin, why in report.unreadable_samples:
        lines.append(f"      {origin}  {why}")
    if plan.dry_run and report.samples:
        lines.append("  first ones that would be sent:")
        for letter, target in report.samples:
            kind, text = describe_bytes(letter.record.key)
            key = "null" if kind == "null" else text
            lines.append(f"      {letter.origin} -> {target}  key {key}  {reason_label(letter)}")
    if report.first_sent_at is not None and report.last_sent_at is not None and report.sent > 1:
        took = report.last_sent_at - report.first_sent_at
        lines.append(f"  took         {took:.1f}s ({report.sent / max(took, 1e-9):.1f}/s)")
    if report.stopped_at_max and report.left:
        lines.append(f"  stopped at --max {plan.max_messages}: {report.left} left; run it again to continue")
    return "\n".join(lines)
