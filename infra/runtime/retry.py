"""The batch error policy shared by the Kafka and DynamoDB Streams sources.

`BatchRunner.run(items)` delivers one ordered batch (one Kafka partition or one stream shard) until
every record is finished: succeeded, dead-lettered or discarded. The source learns progress through
`BatchHooks.done_through(item)` ("everything up to this item is finished"), and commits/checkpoints
only that far. The runner blocks its (worker) thread; the source keeps that partition/shard
otherwise idle meanwhile, so order is kept and only one batch of it is ever in flight.

Behaviour (AWS semantics where documented; where AWS is silent the choice is marked unconfirmed):
- Function error (raised, timed out, crashed, or a malformed partial response) = the whole batch
  failed. The batch is retried whole after an exponential backoff: `backoff_base_s` (0.2 s)
  doubling per retry up to `backoff_max_s` (10 s) (unconfirmed: AWS does not publish its backoff).
- `MaximumRetryAttempts`: -1 = infinite; with an on-failure destination infinite is capped at 10.
  The first invocation is not a retry.
- `BisectBatchOnFunctionError`: a failing batch of 2+ records is split in halves, first half
  delivered (to completion) before the second. Splitting is not a retry: halves inherit the retry
  count of their parent. A single failing record is retried normally.
- `ReportBatchItemFailures` (only read when on): `None`, `{}`, a dict without `batchItemFailures`,
  or an empty/null list = success. A non-dict payload, a non-list `batchItemFailures`, an entry
  without a valid `itemIdentifier`, or an identifier not in the batch = the whole batch failed.
  Otherwise everything before the lowest failed record is finished, and the batch is redelivered from
  that record (counting one retry) (unconfirmed for Kafka; Kinesis/DynamoDB behaviour).
- `MaximumRecordAgeInSeconds`: before every invocation, records older than the limit leave the batch
  and go to the on-failure handling with the condition "record age exceeded".
- Retries exhausted: the records that failed in the last attempt (the whole sub-batch, or only the
  reported items of a partial response) go to the on-failure handling (`BatchHooks.on_failure`:
  dead-letter them or count them as discarded), then the batch moves on past them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from infra.runtime.invoker import InvocationResult

T = TypeVar("T")
FailureReason = Literal["retries_exhausted", "record_age_exceeded"]
_INFINITE_WITH_DESTINATION = 10


@dataclass(frozen=True)
class RetryPolicy:
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    has_destination: bool = False
    backoff_base_s: float = 0.2
    backoff_max_s: float = 10.0

    @property
    def retry_limit(self) -> int | None:
        """How many retries a batch gets; None = until it succeeds (or its records expire)."""
        if self.maximum_retry_attempts >= 0:
            return self.maximum_retry_attempts
        return _INFINITE_WITH_DESTINATION if self.has_destination else None

    def backoff(self, retry: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, retry - 1)))


@dataclass
class Counters:
    """Status counters of one event source; updated from worker threads, read by `status()`."""

    batches: int = 0
    records: int = 0
    retries: int = 0
    bisections: int = 0
    partial_failures: int = 0
    dead_lettered: int = 0
    discarded: int = 0
    filtered: int = 0
    last_error: dict[str, str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def error(self, error_type: str, message: str) -> None:
        when = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            self.last_error = {"type": error_type, "message": message[:500], "at": when}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "batches_invoked": self.batches,
                "records_delivered": self.records,
                "retries": self.retries,
                "bisections": self.bisections,
                "partial_failures": self.partial_failures,
                "dead_lettered": self.dead_lettered,
                "discarded": self.discarded,
                "filtered": self.filtered,
                "last_error": self.last_error,
            }


@dataclass(frozen=True)
class FailedRecords(Generic[T]):
    """Records that will not be retried any more, for the on-failure destination."""

    items: list[T]
    reason: FailureReason
    batch_size: int  # the size of the last batch these records were invoked in
    invoke_count: int  # how many invocations these records were part of
    result: InvocationResult | None  # the last invocation's outcome (None: never invoked)


class BatchHooks(Protocol[T]):
    """What the runner needs from a source for one batch."""

    def invoke(self, items: list[T]) -> InvocationResult: ...

    def item_id(self, item: T) -> Hashable:
        """The key a partial batch response names the item by (Kafka offset, stream SequenceNumber)."""
        ...

    def parse_item_identifier(self, identifier: Any) -> Hashable | None:
        """The key in a response's `itemIdentifier`, or None when it is malformed."""
        ...

    def record_time(self, item: T) -> float:
        """When the record was written, epoch seconds (for MaximumRecordAgeInSeconds)."""
        ...

    def on_failure(self, failed: FailedRecords[T]) -> None:
        """Dead-letter (or discard) these records. Raising stops the batch without progress."""
        ...

    def done_through(self, item: T) -> None:
        """Every item up to and including this one is finished: commit/checkpoint past it."""
        ...


@dataclass
class _Work:
    positions: list[int]  # indices into the whole batch, ascending
    retries: int = 0
    invokes: int = 0


class BatchRunner(Generic[T]):
    def __init__(
        self,
        policy: RetryPolicy,
        hooks: BatchHooks[T],
        counters: Counters,
        cancelled: Callable[[], bool],
        wait: Callable[[float], object] = time.sleep,
    ) -> None:
        self.policy = policy
        self.hooks = hooks
        self.counters = counters
        self.cancelled = cancelled
        self.wait = wait

    def run(self, items: Sequence[T]) -> bool:
        """Deliver until every item is finished (True), or until cancelled (False: the unfinished
        items were not reported done, so they will be delivered again)."""
        self._items = list(items)
        self._finished = [False] * len(self._items)
        self._frontier = 0
        stack = [_Work(list(range(len(self._items))))]
        while stack:
            if self.cancelled():
                return False
            work = stack.pop()
            work.positions = self._drop_expired(work)
            if not work.positions:
                continue
            batch = [self._items[i] for i in work.positions]
            result = self.hooks.invoke(batch)
            work.invokes += 1
            self.counters.add(batches=1, records=len(batch))
            failed = self._failed_positions(work.positions, result)
            if failed is None:
                self._finish(work.positions)
                continue
            if failed == work.positions and self.policy.bisect_on_error and len(failed) > 1:
                self.counters.add(bisections=1)
                middle = len(failed) // 2
                stack.append(_Work(failed[middle:], work.retries, work.invokes))
                stack.append(_Work(failed[:middle], work.retries, work.invokes))
                continue
            lowest = work.positions.index(failed[0])
            self._finish(work.positions[:lowest])
            remaining = work.positions[lowest:]
            limit = self.policy.retry_limit
            if limit is not None and work.retries >= limit:
                self._give_up(failed, "retries_exhausted", len(batch), work.invokes, result)
                self._finish(remaining)
                continue
            self.counters.add(retries=1)
            self.wait(self.policy.backoff(work.retries + 1))
            stack.append(_Work(remaining, work.retries + 1, work.invokes))
        return True

    def _failed_positions(self, positions: list[int], result: InvocationResult) -> list[int] | None:
        """None = success; else the failed positions (all of them for a whole-batch failure)."""
        if not result.ok:
            self.counters.error(result.error_type or "Error", result.error_message or "")
            return positions
        if not self.policy.report_batch_item_failures:
            return None
        failed_ids = self._reported_failures(result.payload)
        if failed_ids is None:
            self.counters.error("MalformedPartialBatchResponse", repr(result.payload)[:300])
            return positions
        if not failed_ids:
            return None
        by_id = {self.hooks.item_id(self._items[i]): i for i in positions}
        if not failed_ids <= by_id.keys():
            self.counters.error("PartialBatchResponse", "an itemIdentifier is not in the batch")
            return positions
        self.counters.add(partial_failures=1)
        return sorted(by_id[key] for key in failed_ids)

    def _reported_failures(self, payload: Any) -> set[Hashable] | None:
        """The identifiers a partial batch response names; None when the response is malformed."""
        if payload is None:
            return set()
        if not isinstance(payload, dict):
            return None
        entries = payload.get("batchItemFailures")
        if entries is None:
            return set()
        if not isinstance(entries, list):
            return None
        keys: set[Hashable] = set()
        for entry in entries:
            key = (
                self.hooks.parse_item_identifier(entry.get("itemIdentifier"))
                if isinstance(entry, dict)
                else None
            )
            if key is None:
                return None
            keys.add(key)
        return keys

    def _drop_expired(self, work: _Work) -> list[int]:
        max_age = self.policy.maximum_record_age_seconds
        if max_age < 0:
            return work.positions
        oldest_allowed = time.time() - max_age
        expired = [i for i in work.positions if self.hooks.record_time(self._items[i]) < oldest_allowed]
        if not expired:
            return work.positions
        self._give_up(expired, "record_age_exceeded", len(work.positions), work.invokes, None)
        self._finish(expired)
        return [i for i in work.positions if i not in set(expired)]

    def _give_up(
        self,
        positions: list[int],
        reason: FailureReason,
        batch_size: int,
        invokes: int,
        result: InvocationResult | None,
    ) -> None:
        items = [self._items[i] for i in positions]
        self.hooks.on_failure(FailedRecords(items, reason, batch_size, invokes, result))

    def _finish(self, positions: list[int]) -> None:
        for i in positions:
            self._finished[i] = True
        start = self._frontier
        while self._frontier < len(self._finished) and self._finished[self._frontier]:
            self._frontier += 1
        if self._frontier > start:
            self.hooks.done_through(self._items[self._frontier - 1])
