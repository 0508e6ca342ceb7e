"""`KafkaEventSource`: one Lambda Kafka event source mapping (SelfManagedKafka or MSK) run locally.

Threads: one poll thread owns the consumer: it takes fetched records, buffers them per partition,
hands closed batches to a worker pool, and applies the workers' outcomes (commits); rebalance and
commit callbacks run on it too, inside its `consume`. Workers filter and run the retry policy
(infra/runtime/retry.py), blocking on the invoker, and go straight on with their partition's next
closed batch; the Lambda payload itself is built by the invoker's worker process (events.py says
why). One batch per partition is in flight at a time; partitions run concurrently (pool size =
assigned partitions, at most `max_workers`).

The consumer is confluent-kafka's (librdkafka): its fetching, parsing and group membership run in
native threads that never take Python's interpreter lock, so an idle source costs the runtime one
wake-up per poll and a busy one does not slow the HTTP API sharing the runtime's process (with
kafka-python, the template's 18 idle consumers took a fifth of the accept path's throughput).

Behaviours (docs/event-sources.md; choices where AWS is silent are marked unconfirmed):
- Consumer group: `ConsumerGroupId`, else `surge-<FunctionLogicalId>-<EventName>-<stack scope>`
  (unconfirmed; AWS uses the ESM UUID; the scope hashes the stack name and template path, see
  `stack_scope`), so a restarted runtime resumes from the group's committed offsets and two
  templates on one Kafka never share a group.
- StartingPosition applies only to partitions without a committed offset: TRIM_HORIZON = earliest,
  LATEST = latest, AT_TIMESTAMP = the first offset at or after StartingPositionTimestamp (latest when
  there is none).
- A batch closes at BatchSize records, ~6 MB of payload, or when the batching window has elapsed
  since its first record arrived (0 = at once; partition_buffer.py). Records already waiting behind an
  in-flight batch go out as soon as it finishes. One partition per invocation (unconfirmed; see
  events.py).
- Offsets are committed (last finished offset + 1, asynchronously; synchronously on stop; offsets.py) only for
  finished records:
  delivered successfully, filtered out, dead-lettered or discarded.
- Memory stays bounded per partition: while a partition's buffer holds `BUFFER_BATCHES` batches (or
  as many times 6 MB), nothing more is taken from the consumer (librdkafka's own prefetch is bounded
  by `queued.max.messages.kbytes`). If it stays full for `PAUSE_AFTER_S`, it is paused until its
  buffer drains, and the others flow again (the consumer hands out all partitions' records from one
  queue). librdkafka drops what it prefetched for a paused partition and fetches it again from the
  last record handed out when it is resumed. When every partition is paused, the poll thread mostly
  waits for outcomes.
- Joining: topics.py waits for the topic (and its partition leaders) before subscribing; status and
  health say when it does not exist.
- Rebalance (eager): a newly assigned partition starts at the group's committed offset, else at the
  StartingPosition, set in the assignment itself, and not paused (librdkafka would keep a pause from
  before the rebalance). Buffered records of revoked partitions are dropped
  and nothing is committed for them any more (their in-flight batch is cancelled after its current
  invocation); the new owner re-reads from the committed offset (at least once).
- If a batch cannot be finished (the dead-letter publish fails, or an internal error), the partition
  seeks back to its first unfinished offset and retries after `hold_s` (a seek that fails is tried
  again at every poll, and the partition's records are not buffered until it succeeds).
- `Enabled: false`: nothing is polled; `ready()` is True and the state is "disabled".
- `stop()`: stop polling, wait up to `stop_timeout_s` for in-flight invocations, commit what is
  finished, never commit unfinished work, leave the group.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    Consumer,
    KafkaException,
    TopicPartition,
)

from infra.runtime.destinations import Destination, open_destination
from infra.runtime.filters import RecordFilter
from infra.runtime.invoker import InvocationResult, Invoker
from infra.runtime.kafka.dead_letter import kafka_failure_messages
from infra.runtime.kafka.events import KafkaBatch, Record, batch_rows, payload_size, record_of
from infra.runtime.kafka.offsets import OffsetCommitter, committed_offsets
from infra.runtime.kafka.partition_buffer import Partition
from infra.runtime.kafka.topics import await_topic
from infra.runtime.retry import BatchRunner, Counters, FailedRecords, RetryPolicy
from infra.template.models import KafkaEventSpec

log = logging.getLogger(__name__)

_IDLE_POLL_MS = 500  # a blocked consume still returns as soon as records arrive
_BUSY_POLL_MS = 5  # while batches are in flight: the longest a fetched record waits to be buffered
PAUSE_AFTER_S = 0.5  # a partition whose buffer stays full this long is paused (_apply_backpressure)
_librdkafka_log = logging.getLogger("surge.kafka.consumer")


def default_group_id(spec: KafkaEventSpec) -> str:
    """ConsumerGroupId, else the template's per-stack default, else (a spec built by hand) one from
    the logical ids."""
    return spec.consumer_group_id or spec.default_group_id or f"surge-{spec.function_logical_id}-{spec.name}"


@dataclass(frozen=True)
class _Outcome:
    part: Partition
    offset: int | None  # commit this offset (next to read); None = nothing new
    done: bool  # the batch is over (its partition may get the next one)
    restart_at: int | None = None  # the batch was abandoned: re-read from here


class KafkaEventSource:
    def __init__(
        self,
        spec: KafkaEventSpec,
        invoker: Invoker,
        *,
        function_id: str,
        dead_letter_dir: Path,
        bootstrap_servers: str | None = None,
        function_arn: str | None = None,
        region: str = "us-east-1",
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        max_workers: int = 16,
        stop_timeout_s: float = 10.0,
        hold_s: float = 1.0,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        """`bootstrap_servers` overrides the spec's (e.g. the local stack's); `dead_letter_dir`
        receives `<function>.<event>.jsonl` for SQS/SNS/S3 destinations; `consumer_config` adds
        librdkafka properties. Raises ValueError for an unsupported filter operator or destination."""
        self.spec = spec
        self.invoker = invoker
        self.function_id = function_id
        self.bootstrap_servers = bootstrap_servers or spec.bootstrap_servers
        self.function_arn = function_arn or f"arn:aws:lambda:{region}:000000000000:function:{function_id}"
        self.group_id = default_group_id(spec)
        self.filter = RecordFilter(spec.filter_patterns)
        self.destination: Destination | None = open_destination(
            spec.on_failure_destination,
            bootstrap_servers=self.bootstrap_servers,
            file=dead_letter_dir / f"{function_id}.{spec.name}.jsonl",
        )
        self.policy = RetryPolicy(
            maximum_retry_attempts=spec.maximum_retry_attempts,
            maximum_record_age_seconds=spec.maximum_record_age_seconds,
            bisect_on_error=spec.bisect_on_error,
            report_batch_item_failures=spec.report_batch_item_failures,
            has_destination=self.destination is not None,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
        self.max_workers = max_workers
        self.stop_timeout_s = stop_timeout_s
        self.hold_s = hold_s
        self.consumer_config = consumer_config or {}
        self._max_records = min(10_000, max(500, spec.batch_size * 2))  # per consume
        self.counters = Counters()
        self._state = "disabled" if not spec.enabled else "created"
        self._stop = threading.Event()
        self._outcomes: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        self._parts: dict[TopicPartition, Partition] = {}
        self._outcome_ready = threading.Event()
        self._offsets = OffsetCommitter(self._parts, self.counters)
        self._seeks: dict[TopicPartition, int] = {}  # restarts whose seek has not succeeded yet
        self._busy: set[TopicPartition] = set()  # partitions with a batch thread (poll thread only)
        self._buffers_lock = threading.Lock()  # partition buffers: the poll thread and batch threads
        self._lag: dict[int, dict[str, Any]] = {}
        self._lag_at = 0.0
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._consumer: Any = None
        self._latest_at_start: dict[TopicPartition, int] = {}  # LATEST: the end offsets at start
        self._ready = threading.Event()
        self._problem: str | None = None  # why it cannot poll yet (status and health say it)

    # ---- EventSource -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.spec.function_logical_id}.{self.spec.name}"

    def start(self) -> None:
        if not self.spec.enabled or self._thread is not None:
            return
        self._state = "starting"
        self._thread = threading.Thread(target=self._run, name=f"kafka-esm-{self.name}", daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        return not self.spec.enabled or self._ready.is_set()

    def status(self) -> dict[str, Any]:
        return {
            "type": "MSK" if self.spec.source_kind == "MSK" else "SelfManagedKafka",
            "state": self._state,
            "problem": self._problem,
            "topic": self.spec.topic,
            "group": self.group_id,
            "partitions": dict(self._lag),
            "on_failure": self.destination.description if self.destination else None,
            **self.counters.snapshot(),
        }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout_s + 15)
        if self.destination is not None:
            self.destination.close()
        if self.spec.enabled:
            self._state = "stopped"

    # ---- poll thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._consumer = self._open_consumer()
            self._offsets.consumer = self._consumer
        except Exception as exc:
            self.counters.error(type(exc).__name__, f"cannot start the consumer: {exc}")
            self._problem = f"cannot start the consumer: {exc}"
            self._state = "failed"
            return
        self._state = "polling"
        try:
            while not self._stop.is_set():
                try:
                    self._poll_once()
                except Exception as exc:  # never let the loop die; say so in status
                    log.exception("kafka event source %s", self.name)
                    self.counters.error(type(exc).__name__, str(exc))
                    self._stop.wait(0.5)
        finally:
            self._shutdown()

    def _open_consumer(self) -> Any:
        position = self.spec.starting_position
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "client.id": f"surge-{self.name}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "latest" if position == "LATEST" else "earliest",
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
            "fetch.max.bytes": 64 * 1024 * 1024,
            # librdkafka's prefetch, per consumer (its default is 64 MB; template.yaml has 18 sources)
            "queued.max.messages.kbytes": 16 * 1024,
            # a slow function must not get the consumer kicked out of the group
            "max.poll.interval.ms": 30 * 60 * 1000,
            "check.crcs": True,
            "on_commit": self._offsets.committed,
            "error_cb": self._on_error,
            "logger": _librdkafka_log,
        }
        config.update(self.consumer_config)
        consumer = Consumer(config)
        try:
            await_topic(
                consumer,
                self.spec.topic,
                needed_by=self.name,
                stop=self._stop,
                counters=self.counters,
                set_problem=self._set_problem,
            )
            if position == "LATEST":
                # LATEST is where the partitions ended when the source started, as for an event source
                # mapping, not when the group hands them over: that can be seconds later (a rebalance),
                # and the records sent meanwhile would be skipped.
                self._latest_at_start = self._end_offsets(consumer)
            consumer.subscribe([self.spec.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        except BaseException:
            consumer.close()
            raise
        return consumer

    def _end_offsets(self, consumer: Any) -> dict[TopicPartition, int]:
        topic = consumer.list_topics(self.spec.topic, timeout=10).topics.get(self.spec.topic)
        ends: dict[TopicPartition, int] = {}
        for number in topic.partitions if topic is not None else ():
            tp = TopicPartition(self.spec.topic, number)
            ends[tp] = consumer.get_watermark_offsets(tp, timeout=10)[1]
        return ends

    def _on_error(self, error: Any) -> None:
        """librdkafka's client-level errors (a broker down, ...): it retries on its own; say it in status."""
        self.counters.error(error.name(), error.str())

    def _set_problem(self, problem: str | None) -> None:
        self._problem = problem

    def _poll_once(self) -> None:
        self._apply_outcomes()
        self._retry_seeks()
        self._offsets.flush()
        now = time.monotonic()
        wait_s = self._dispatch_ready(now)
        hold_s = self._apply_backpressure(now)
        if hold_s is not None:  # records for a full partition would only pile up
            self._wait_for_outcome(hold_s)
            return
        all_paused = bool(self._parts) and all(part.paused for part in self._parts.values())
        if all_paused:
            self._wait_for_outcome(_IDLE_POLL_MS / 1000)
        # While batches are in flight, their outcomes (commits, partitions becoming idle) come often,
        # and a blocked consume cannot be woken by them: consume without blocking, then wait on the
        # outcomes. Otherwise only new records can bring work: block in consume. (Consuming also
        # runs the rebalance and commit callbacks, so it goes on even when every partition is paused.)
        busy = bool(self._busy) or all_paused
        timeout_ms = 0 if busy else _IDLE_POLL_MS
        if wait_s is not None:
            timeout_ms = min(timeout_ms, max(0, int(wait_s * 1000)))
        messages = self._consumer.consume(self._max_records, timeout_ms / 1000)
        if busy and not messages and not all_paused:
            self._wait_for_outcome(
                _BUSY_POLL_MS / 1000 if wait_s is None else min(_BUSY_POLL_MS / 1000, wait_s)
            )
        if messages:
            self._buffer(messages)
        self._refresh_lag()

    def _buffer(self, messages: list[Any]) -> None:
        """Add fetched messages to their partitions' buffers (in order; a consume may interleave
        partitions)."""
        arrived = time.monotonic()
        by_partition: dict[int, list[Record]] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                self.counters.error(error.name(), error.str())
                continue
            by_partition.setdefault(message.partition(), []).append(record_of(message))
        for number, records in by_partition.items():
            tp = TopicPartition(self.spec.topic, number)
            part = self._parts.get(tp)
            # A partition waiting for its restart seek would buffer records from the wrong place.
            if part is None or part.cancelled or tp in self._seeks:
                continue
            size = payload_size(records)
            with self._buffers_lock:
                part.add(records, size, arrived)

    def _dispatch_ready(self, now: float) -> float | None:
        """Start a batch for every idle partition whose batch closed; returns the time until the
        next batching window closes (None: no window pending)."""
        next_close: float | None = None
        with self._buffers_lock:
            for part in self._parts.values():
                if part.tp in self._busy:
                    continue
                batch = self._closed_batch(part, now)
                if batch is not None:
                    self._submit(part, batch)
                    continue
                remaining = part.window_left(now, self.spec.batching_window_seconds)
                if remaining is not None:
                    next_close = remaining if next_close is None else min(next_close, remaining)
        return next_close

    def _closed_batch(self, part: Partition, now: float) -> list[Record] | None:
        """The caller holds `_buffers_lock`."""
        return part.closed_batch(now, self.spec.batch_size, self.spec.batching_window_seconds)

    def _submit(self, part: Partition, batch: list[Record]) -> None:
        wanted = min(self.max_workers, max(1, len(self._parts)))
        if self._pool is None or wanted > self._pool_size:
            # Grow by replacing the pool; the old one finishes its running batches on its own.
            old = self._pool
            self._pool = ThreadPoolExecutor(wanted, thread_name_prefix=f"kafka-esm-{self.name}")
            self._pool_size = wanted
            if old is not None:
                old.shutdown(wait=False)
        self._busy.add(part.tp)
        self._pool.submit(self._process, part, batch)

    def _apply_backpressure(self, now: float) -> float | None:
        """Resume the partitions that drained, pause those full for `PAUSE_AFTER_S`; returns how long
        to hold off consuming for a full partition not paused yet (None: consume).

        A full partition first only holds consumption back: its next batch usually finishes within
        milliseconds, and pausing costs much more than that, since librdkafka drops what it prefetched
        for a paused partition and refetches it on resume, often behind a fetch that waits up to
        fetch.wait.max.ms (500 ms) on the broker. Pausing at once took the runtime bench from 121,000
        to 11,000-17,000 records/s. One that stays full (a slow or retrying batch) is paused, so the
        other partitions flow again."""
        hold: float | None = None
        for part in self._parts.values():
            if not part.full(self.spec.batch_size):
                part.full_since = None
                if part.paused:
                    self._consumer.resume([part.tp])
                    part.paused = False
                continue
            if part.paused:
                continue
            if part.full_since is None:
                part.full_since = now
            left = part.full_since + PAUSE_AFTER_S - now
            if left > 0:
                hold = left if hold is None else min(hold, left)
                continue
            self._consumer.pause([part.tp])
            part.paused = True
        return hold

    def _wait_for_outcome(self, timeout_s: float) -> None:
        if self._outcomes.empty():
            self._outcome_ready.wait(timeout_s)
        self._outcome_ready.clear()  # the queue stays the truth; the next loop applies it in order

    def _report(self, outcome: _Outcome) -> None:
        self._outcomes.put(outcome)
        self._outcome_ready.set()

    def _apply_outcomes(self) -> None:
        commits: dict[TopicPartition, int] = {}
        while True:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                break
            part = outcome.part
            if outcome.done:
                self._busy.discard(part.tp)
            if self._parts.get(part.tp) is not part or part.cancelled:
                continue  # revoked since: its new owner re-reads
            if outcome.offset is not None:
                commits[part.tp] = outcome.offset
            if outcome.restart_at is not None:
                with self._buffers_lock:
                    part.clear()
                part.hold_until = time.monotonic() + self.hold_s
                self._seeks[part.tp] = outcome.restart_at
        if commits:
            self._offsets.commit(commits)

    def _retry_seeks(self) -> None:
        """Re-position partitions whose batch was abandoned. A seek that fails (the partition is
        being moved, say) is tried again next time; meanwhile its records are not buffered."""
        for tp, offset in list(self._seeks.items()):
            if tp not in self._parts:
                del self._seeks[tp]  # revoked: its new owner starts at the committed offset
                continue
            try:
                self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            except KafkaException as exc:
                self.counters.error("SeekFailed", f"{tp.topic}-{tp.partition} to {offset}: {exc}")
                continue
            del self._seeks[tp]
            with self._buffers_lock:
                self._parts[tp].clear()  # fetched before the seek took effect

    def _refresh_lag(self) -> None:
        now = time.monotonic()
        if now < self._lag_at + 0.5:
            return
        self._lag_at = now
        lag: dict[int, dict[str, Any]] = {}
        for tp, part in self._parts.items():
            try:
                end: int | None = self._consumer.get_watermark_offsets(tp, cached=True)[1]
            except KafkaException:
                end = None
            if end is not None and end < 0:
                end = None  # not known until a fetch answered
            lag[tp.partition] = {
                "committed": part.committed,
                "lag": None if end is None or part.committed is None else max(0, end - part.committed),
                "in_flight": tp in self._busy,
                "buffered": len(part.buffer),
                "paused": part.paused,
                "held": part.hold_until > now,
            }
        self._lag = lag

    # ---- rebalance ------------------------------------------------------------------------------
    # librdkafka calls these from the poll thread's own `consume`, so they change the partition states
    # directly; records fetched for a revoked partition are never handed out after its revocation.

    def _on_assign(self, consumer: Any, assigned: list[TopicPartition]) -> None:
        committed: dict[TopicPartition, int | None] = {}
        try:
            committed = committed_offsets(consumer, assigned) if assigned else {}
            for tp in assigned:
                tp.offset = self._start_offset(consumer, tp, committed.get(tp))
        except KafkaException as exc:
            # Never leave the assignment unpositioned (librdkafka would fetch, and nothing here would
            # take the records): start at the committed offsets, else at auto.offset.reset.
            self.counters.error("AssignFailed", f"positioning {len(assigned)} partitions: {exc}")
            for tp in assigned:
                tp.offset = OFFSET_STORED
        consumer.assign(assigned)
        # librdkafka keeps a partition paused across unassign and assign: one paused for
        # back-pressure when the rebalance came would never be fetched again. Until the resume below
        # succeeds, a new partition counts as paused, so back-pressure resumes it at its next pass.
        parts = [Partition(TopicPartition(tp.topic, tp.partition), paused=True) for tp in assigned]
        for part in parts:
            part.committed = committed.get(part.tp)
            self._parts[part.tp] = part
            self._seeks.pop(part.tp, None)
        try:
            consumer.resume(assigned)
        except KafkaException as exc:
            self.counters.error("ResumeFailed", f"resuming {len(assigned)} assigned partitions: {exc}")
        else:
            for part in parts:
                part.paused = False
        self._ready.set()  # the group is joined (even an empty assignment is a working member)

    def _on_revoke(self, consumer: Any, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self._offsets.forget(tp)
            part = self._parts.pop(tp, None)
            if part is not None:
                part.cancelled = True
                with self._buffers_lock:
                    part.clear()
        self._lag = {}
        consumer.unassign()

    def _start_offset(self, consumer: Any, tp: TopicPartition, committed: int | None) -> int:
        """Where a newly assigned partition starts: the group's committed offset, else the
        StartingPosition (LATEST: where it ended when the source started)."""
        if committed is not None:
            return committed
        position = self.spec.starting_position
        if position == "TRIM_HORIZON":
            return OFFSET_BEGINNING
        if position == "AT_TIMESTAMP":
            when_ms = int((self.spec.starting_position_timestamp or 0) * 1000)
            (found,) = consumer.offsets_for_times(
                [TopicPartition(tp.topic, tp.partition, when_ms)], timeout=10
            )
            return int(found.offset) if found.offset >= 0 else OFFSET_END
        return self._latest_at_start.get(TopicPartition(tp.topic, tp.partition), OFFSET_END)

    # ---- workers ------------------------------------------------------------------------------

    def _process(self, part: Partition, records: list[Record]) -> None:
        """Deliver batches of one partition, one after another, while a closed one is waiting: a
        finished batch starts the next at once, not after a round trip through the poll thread (which
        may be busy parsing a fetch for milliseconds). Each finished batch is committed."""
        while True:
            restart_at = self._deliver(part, records)
            if restart_at is not None:
                self._report(_Outcome(part, None, True, restart_at=restart_at))
                return
            following = None
            if not part.cancelled and not self._stop.is_set():
                with self._buffers_lock:
                    following = self._closed_batch(part, time.monotonic())
            self._report(_Outcome(part, records[-1].offset + 1, following is None))
            if following is None:
                return
            records = following

    def _deliver(self, part: Partition, records: list[Record]) -> int | None:
        """Run one batch to the end; None when every record is finished, else the offset to re-read
        from (the batch was cancelled or could not be finished)."""
        batch = _Batch(self, part)
        try:
            if self.filter.active:
                passed = [r for r in records if self.filter.matches(_filterable(r.value))]
                if len(passed) < len(records):
                    self.counters.add(filtered=len(records) - len(passed))
            else:
                passed = records
            runner = BatchRunner(self.policy, batch, self.counters, batch.cancelled, self._stop.wait)
            finished = runner.run(passed) if passed else True
        except Exception as exc:
            log.exception("kafka event source %s: batch failed", self.name)
            self.counters.error(type(exc).__name__, str(exc))
            finished = False
        if finished:
            return None
        return batch.next_offset if batch.next_offset is not None else records[0].offset

    def _invoke(self, records: list[Record]) -> InvocationResult:
        """`records` are of one partition; the payload is built by the invoker's worker (see events.py
        for why)."""
        first = records[0]
        event = KafkaBatch(
            self.spec.source_kind,
            self.bootstrap_servers,
            self.spec.event_source_arn,
            first.topic,
            first.partition,
            batch_rows(records),
        )
        return self.invoker.invoke(self.function_id, event)

    def _on_failure(self, failed: FailedRecords[Any]) -> None:
        if self.destination is None:
            self.counters.add(discarded=len(failed.items))
            return
        messages = kafka_failure_messages(
            failed,
            source_kind=self.spec.source_kind,
            bootstrap_servers=self.bootstrap_servers,
            event_source_arn=self.spec.event_source_arn,
            function_arn=self.function_arn,
        )
        self.destination.send(messages)
        self.counters.add(dead_lettered=len(messages))

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        # Invocations that finish within the bound are finished work: commit them. Later ones never.
        deadline = time.monotonic() + self.stop_timeout_s
        while True:
            self._apply_outcomes_safely()
            if not self._busy or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        try:
            self._offsets.final_commit()
        except Exception as exc:
            self.counters.error(type(exc).__name__, f"final commit: {exc}")
        for part in self._parts.values():
            part.cancelled = True
        try:
            self._consumer.close()  # leaves the group; commits nothing (enable.auto.commit is off)
        except Exception as exc:
            self.counters.error(type(exc).__name__, f"closing the consumer: {exc}")
        self._state = "stopped"

    def _apply_outcomes_safely(self) -> None:
        try:
            self._apply_outcomes()
        except Exception as exc:
            self.counters.error(type(exc).__name__, f"final commit: {exc}")


class _Batch:
    """The retry runner's hooks for one batch of one partition; items are Records."""

    def __init__(self, source: KafkaEventSource, part: Partition) -> None:
        self.source = source
        self.part = part
        self.label = f"{part.tp.topic}-{part.tp.partition}"
        self.next_offset: int | None = None

    def cancelled(self) -> bool:
        return self.part.cancelled or self.source._stop.is_set()

    def invoke(self, items: list[Any]) -> InvocationResult:
        return self.source._invoke(items)

    def item_id(self, item: Any) -> int:
        return int(item.offset)

    def parse_item_identifier(self, identifier: Any) -> int | None:
        if not isinstance(identifier, dict) or identifier.get("partition") != self.label:
            return None
        offset = identifier.get("offset")
        if isinstance(offset, bool) or not isinstance(offset, int | str):
            return None
        try:
            return int(offset)
        except ValueError:
            return None

    def record_time(self, item: Any) -> float:
        return float(item.timestamp) / 1000

    def on_failure(self, failed: FailedRecords[Any]) -> None:
        self.source._on_failure(failed)

    def done_through(self, item: Any) -> None:
        self.next_offset = item.offset + 1
        if not self.part.cancelled:
            self.source._report(_Outcome(self.part, self.next_offset, False))


def _filterable(value: bytes | None) -> dict[str, Any]:
    """What FilterCriteria patterns see for a Kafka record: {"value": JSON or string} (see filters)."""
    if value is None:
        return {}
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    try:
        return {"value": json.loads(text)}
    except ValueError:
        return {"value": text}
