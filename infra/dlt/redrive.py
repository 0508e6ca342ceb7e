"""Re-driving dead letters: the ORIGINAL records back to their source topic (or `--to`), each exactly once.

Exactly once per dead letter, across Ctrl-C and crashes, without Kafka transactions (whose aborted
records a read_uncommitted consumer such as the event source would still see):
- A re-drive's progress is the committed offset of its own consumer group on the DLT
  (`surge-dlt-redrive.<dlt>.<id of its options>`): every dead letter before it was sent or skipped.
- Records go out in batches. Before a batch, the group commits its unchanged offsets with an intent
  (`{"pending": {"since_ms", "topics"}}` as commit metadata); then the batch is sent and the broker's
  acks awaited (acks=all, idempotent producer); only then are the new offsets committed, clearing the
  intent.
- A run that finds an intent (the previous one died mid-batch) first reads the intent's topics from
  `since_ms` (less a margin for clock skew) and collects the REDRIVE_ORIGIN_HEADER of every record
  there: those dead letters were sent already and are skipped, not sent again.
The DLT is read up to the end it had at the start, so a record that fails again and comes back to the
DLT during the run is left for the next run; REDRIVE_COUNT_HEADER (the loop guard, `--max-redrives`)
stops a record that keeps failing.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from infra.dlt.connection import KafkaConnection
from infra.dlt.messages import REDRIVE_ORIGIN_HEADER, DeadLetter, NotADeadLetter, parse_dead_letter
from infra.dlt.reader import beginning_and_end, open_consumer, read_until, topic_partitions
from infra.dlt.selection import Selection, fingerprint
from infra.stack.errors import StackError

GROUP_PREFIX = "surge-dlt-redrive"
DEFAULT_MAX_REDRIVES = 3
_BATCH = 500
_RECOVERY_MARGIN_MS = 60_000
_ACK_TIMEOUT_S = 30.0
_PROGRESS_EVERY_S = 1.0
_SAMPLES = 5


def redrive_group(dlt_topic: str, *options: object) -> str:
    """The consumer group of a re-drive: the same DLT and options resume the same re-drive."""
    return f"{GROUP_PREFIX}.{dlt_topic}.{fingerprint(*options)}"


@dataclass(frozen=True)
class RedrivePlan:
    dlt_topic: str
    group_id: str
    selection: Selection = field(default_factory=Selection)
    max_redrives: int = DEFAULT_MAX_REDRIVES
    max_messages: int | None = None
    rate: float | None = None  # records per second
    to_topic: str | None = None
    dry_run: bool = False


@dataclass
class RedriveReport:
    total: int = 0  # dead letters from the group's position to the end at start
    already_done: int = 0  # before the group's position (earlier runs of this re-drive)
    considered: int = 0
    sent: int = 0  # or: would be sent, in a dry run
    not_selected: int = 0
    loop_guarded: int = 0
    unreadable: int = 0
    sent_before_crash: int = 0  # found in the target: sent by an interrupted earlier run
    by_reason: Counter[str] = field(default_factory=Counter)
    by_target: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[DeadLetter, str]] = field(default_factory=list)
    guarded: list[DeadLetter] = field(default_factory=list)
    unreadable_samples: list[tuple[str, str]] = field(default_factory=list)
    first_sent_at: float | None = None
    last_sent_at: float | None = None
    stopped_at_max: bool = False

    @property
    def left(self) -> int:
        return self.total - self.considered


@dataclass
class _Send:
    letter: DeadLetter
    target: str


class Redriver:
    def __init__(
        self,
        connection: KafkaConnection,
        plan: RedrivePlan,
        *,
        progress: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if plan.to_topic == plan.dlt_topic:
            raise StackError("--to names the dead-letter topic itself: that would re-drive in a loop")
        if plan.rate is not None and plan.rate <= 0:
            raise StackError("--rate must be > 0 records per second")
        self.connection = connection
        self.plan = plan
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.report = RedriveReport()
        self._consumer: Any = None
        self._producer: Any = None
        self._committed: dict[TopicPartition, int] = {}
        self._known_topics: set[str] = set()
        self._sent_before_crash: set[str] = set()
        self._sends_started = 0
        self._pace_from: float | None = None
        self._last_progress = 0.0

    # ---- the run -------------------------------------------------------------------------------

    def run(self) -> RedriveReport:
        self._consumer = open_consumer(self.connection, self.plan.group_id)
        try:
            parts = topic_partitions(self._consumer, self.plan.dlt_topic, self.connection)
            begin, end = beginning_and_end(self._consumer, parts)
            committed = {tp: self._consumer.committed(tp, metadata=True) for tp in parts}
            start = {tp: max(begin[tp], committed[tp].offset) if committed[tp] else begin[tp] for tp in parts}
            self._committed = dict(start)
            self.report.total = sum(end[tp] - start[tp] for tp in parts)
            self.report.already_done = sum(start[tp] - begin[tp] for tp in parts)
            self._sent_before_crash = self._recover(committed.values())
            if not self.plan.dry_run:
                self._producer = self._open_producer()
            self._drive(read_until(self._consumer, start, end))
            if not self.plan.dry_run and any(c is not None and c.metadata for c in committed.values()):
                self._commit(self._committed, "")  # the interrupted run's intent is settled
            return self.report
        finally:
            if self._producer is not None:
                # Wait for what is in flight, so a rerun's recovery scan sees it.
                with contextlib.suppress(Exception):
                    self._producer.close(timeout=10)
            self._consumer.close(autocommit=False)

    def _drive(self, records: Iterable[Any]) -> None:
        batch: list[_Send] = []
        positions: dict[TopicPartition, int] = {}
        batch_size = _BATCH if self.plan.rate is None else max(1, min(_BATCH, int(self.plan.rate)))
        for record in records:
            positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
            self.report.considered += 1
            send = self._decide(record)
            if send is not None:
                batch.append(send)
            at_max = (
                self.plan.max_messages is not None and self.report.sent + len(batch) >= self.plan.max_messages
            )
            if len(batch) >= batch_size or at_max:
                self._finish_batch(batch, positions)
                batch, positions = [], {}
            if at_max:
                self.report.stopped_at_max = True
                return
            self._maybe_progress()
        self._finish_batch(batch, positions)

    def _decide(self, record: Any) -> _Send | None:
        try:
            letter = parse_dead_letter(
                record.topic, record.partition, record.offset, record.timestamp, record.value
            )
        except NotADeadLetter as exc:
            self.report.unreadable += 1
            if len(self.report.unreadable_samples) < _SAMPLES:
                self.report.unreadable_samples.append(
                    (f"{record.topic}/{record.partition}/{record.offset}", str(exc))
                )
            return None
        if not self.plan.selection.matches(letter):
            self.report.not_selected += 1
            return None
        if letter.record.redrive_count >= self.plan.max_redrives:
            self.report.loop_guarded += 1
            if len(self.report.guarded) < _SAMPLES:
                self.report.guarded.append(letter)
            return None
        if letter.origin in self._sent_before_crash:
            self.report.sent_before_crash += 1
            return None
        target = self.plan.to_topic or letter.record.topic
        if target == self.plan.dlt_topic:
            raise StackError(f"dead letter {letter.origin} came from the DLT itself; use --to SOURCE_TOPIC")
        self._check_topic(target, letter)
        return _Send(letter, target)

    def _finish_batch(self, batch: list[_Send], positions: Mapping[TopicPartition, int]) -> None:
        if not positions:
            return
        if self.plan.dry_run:
            for send in batch:
                self._count_sent(send)
            return
        if batch:
            intent = {
                "pending": {"since_ms": int(time.time() * 1000), "topics": sorted({s.target for s in batch})}
            }
            self._commit({tp: self._committed[tp] for tp in positions}, json.dumps(intent))
            futures = [self._send(send) for send in batch]
            self._producer.flush(timeout=_ACK_TIMEOUT_S)
            for send, future in zip(batch, futures, strict=True):
                try:
                    future.get(timeout=_ACK_TIMEOUT_S)
                except KafkaError as exc:
                    raise StackError(
                        f"the broker did not acknowledge the re-drive of {send.letter.origin} to {send.target}: {exc}; "
                        "run the same command again: nothing is sent twice"
                    ) from exc
                self._count_sent(send)
        self._commit(dict(positions), "")
        self._committed.update(positions)

    def _send(self, send: _Send) -> Any:
        if self.plan.rate is not None:
            # Even spacing from the first send: the i-th record goes out at i / rate seconds.
            if self._pace_from is None:
                self._pace_from = self.clock()
            due = self._pace_from + self._sends_started / self.plan.rate
            delay = due - self.clock()
            if delay > 0:
                self.sleep(delay)
        self._sends_started += 1
        now = self.clock()
        self.report.first_sent_at = self.report.first_sent_at or now
        self.report.last_sent_at = now
        record = send.letter.record
        future = self._producer.send(
            send.target,
            key=record.key,
            value=record.value,
            headers=record.redriven_headers(send.letter.origin),
        )
        self._maybe_progress()
        return future

    def _count_sent(self, send: _Send) -> None:
        self.report.sent += 1
        self.report.by_reason[reason_label(send.letter)] += 1
        self.report.by_target[send.target] += 1
        if len(self.report.samples) < _SAMPLES:
            self.report.samples.append((send.letter, send.target))

    # ---- Kafka ---------------------------------------------------------------------------------

    def _open_producer(self) -> Any:
        try:
            return KafkaProducer(
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                client_id="surge-dlt-redrive",
                **self.connection.client_config(),
            )
        except KafkaError as exc:
            raise StackError(f"cannot open a producer on {self.connection.bootstrap_servers}: {exc}") from exc

    def _commit(self, offsets: Mapping[TopicPartition, int], metadata: str) -> None:
        self._consumer.commit({tp: OffsetAndMetadata(offset, metadata, -1) for tp, offset in offsets.items()})

    def _check_topic(self, topic: str, letter: DeadLetter) -> None:
        if topic in self._known_topics:
            return
        if not self._consumer.partitions_for_topic(topic):
            raise StackError(
                f"topic {topic} (where dead letter {letter.origin} goes) does not exist; "
                "create it or pick another with --to; what was sent so far is committed"
            )
        self._known_topics.add(topic)

    def _recover(self, committed: Iterable[OffsetAndMetadata | None]) -> set[str]:
        """Origins of dead letters an interrupted run sent after its last commit."""
        since: int | None = None
        topics: set[str] = set()
        for entry in committed:
            if entry is None or not entry.metadata:
                continue
            try:
                pending = json.loads(entry.metadata)["pending"]
                since = min(since or pending["since_ms"], pending["since_ms"])
                topics.update(pending["topics"])
            except (ValueError, KeyError, TypeError):
                continue
        if since is None or not topics:
            return set()
        self.progress(
            f"the last run of this re-drive was interrupted mid-batch: checking {', '.join(sorted(topics))} "
            "for what it already sent ..."
        )
        found = scan_origins(self.connection, topics, since - _RECOVERY_MARGIN_MS, self.plan.dlt_topic)
        self.progress(f"  {len(found)} dead letters were sent by it; they are skipped")
        return found

    def _maybe_progress(self) -> None:
        now = self.clock()
        if now - self._last_progress < _PROGRESS_EVERY_S:
            return
        if self._last_progress == 0.0:
            self._last_progress = now
            return
        self._last_progress = now
        r = self.report
        rate = ""
        if r.first_sent_at is not None and r.last_sent_at and r.last_sent_at > r.first_sent_at:
            rate = f"  {self._sends_started / (r.last_sent_at - r.first_sent_at + 1e-9):.0f}/s"
        verb = "would send" if self.plan.dry_run else "sent"
        skipped = r.not_selected + r.loop_guarded + r.unreadable + r.sent_before_crash
        self.progress(
            f"  read {r.considered}/{r.total}  {verb} {max(r.sent, self._sends_started)}  skipped {skipped}{rate}"
        )


def reason_label(letter: DeadLetter) -> str:
    return f"{letter.condition}: {letter.error_type}" if letter.error_type else letter.condition


def scan_origins(
    connection: KafkaConnection, topics: Iterable[str], since_ms: int, dlt_topic: str
) -> set[str]:
    """REDRIVE_ORIGIN_HEADER values naming `dlt_topic` in records of `topics` from `since_ms` on."""
    consumer = open_consumer(connection)
    prefix = f"{dlt_topic}/".encode()
    try:
        start: dict[TopicPartition, int] = {}
        end: dict[TopicPartition, int] = {}
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not parts:
                continue
            found = consumer.offsets_for_times(dict.fromkeys(parts, max(0, since_ms)))
            ends = consumer.end_offsets(parts)
            for tp in parts:
                start[tp] = found[tp].offset if found.get(tp) is not None else ends[tp]
                end[tp] = ends[tp]
        origins: set[str] = set()
        for record in read_until(consumer, start, end):
            for name, value in record.headers or ():
                if name == REDRIVE_ORIGIN_HEADER and value.startswith(prefix):
                    origins.add(value.decode("utf-8", "replace"))
        return origins
    finally:
        consumer.close()
