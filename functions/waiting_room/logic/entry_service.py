"""The entry consumer: decode a batch, dead-letter poison records, position each concert group.

Why not Powertools' BatchProcessor: it handles records one by one, while positions must be decided per
concert group and committed with the counter in one transaction per chunk.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from common import correlation
from common.dead_letters import publish_dead_letter
from common.kafka_records import (
    KafkaEvent,
    KafkaRecord,
    NonRetryableRecord,
    RecordRef,
    decode_json_value,
    require_key,
)
from common.observability import logger
from common.ports import Publisher
from common.types import utc_now
from waiting_room.errors import Conflict
from waiting_room.logic.positions import plan_group
from waiting_room.logic.status import entry_view
from waiting_room.models.events import EntryRequested
from waiting_room.models.items import ConcertItem, EntryItem
from waiting_room.models.types import ENDED

if TYPE_CHECKING:
    from waiting_room.dal.entries_repo import EntryRepository

MAX_ATTEMPTS = 8


@dataclass
class BatchResult:
    """Each record lands in exactly one of: failures, positioned, aliased, already_done, dead_lettered."""

    failures: list[RecordRef] = field(default_factory=list)
    positioned: int = 0
    aliased: int = 0
    already_done: int = 0
    dead_lettered: int = 0
    conflicts: int = 0
    transactions: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class _Group:
    concert_id: str
    requests: list[tuple[EntryRequested, str | None]] = field(default_factory=list)
    refs: list[RecordRef] = field(default_factory=list)


def decode_entry(record: KafkaRecord) -> EntryRequested:
    request = decode_json_value(record, EntryRequested)
    require_key(record, request.concertId, "concertId")
    if not request.entryId.startswith(request.concertId + "."):
        raise NonRetryableRecord(
            "SchemaViolation", f"entryId {request.entryId!r} is not of concert {request.concertId!r}"
        )
    return request


class EntryService:
    def __init__(
        self,
        entries: EntryRepository,
        publisher: Publisher,
        dlt_topic: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._entries = entries
        self._publisher = publisher
        self._dlt_topic = dlt_topic
        self._clock = clock
        self._sleep = sleep

    def process(self, event: KafkaEvent) -> BatchResult:
        result = BatchResult()
        groups: dict[str, _Group] = {}
        for record in event.iter_records():
            try:
                request = decode_entry(record)
            except NonRetryableRecord as poison:
                self._dead_letter(event, record, poison, result)
                continue
            group = groups.setdefault(request.concertId, _Group(request.concertId))
            group.requests.append((request, correlation.from_record(record)))
            group.refs.append(RecordRef.of(record))
        for group in groups.values():
            try:
                self._settle(event, group, result)
            except Exception:
                # One concert's trouble must not fail the others: its records are retried by the ESM.
                logger.exception(
                    "concert group not positioned",
                    extra={
                        "concertId": group.concert_id,
                        "correlationIds": correlation.distinct(c for _, c in group.requests),
                    },
                )
                result.failures.extend(group.refs)
        return result

    def _dead_letter(
        self, event: KafkaEvent, record: KafkaRecord, poison: NonRetryableRecord, result: BatchResult
    ) -> None:
        if publish_dead_letter(self._publisher, self._dlt_topic, event, record, poison, self._clock()):
            result.dead_lettered += 1
            result.reasons[poison.error_type] += 1
        else:  # not acknowledged = not safe to skip
            result.failures.append(RecordRef.of(record))

    def _settle(self, event: KafkaEvent, group: _Group, result: BatchResult) -> None:
        entry_ids = [r.entryId for r, _ in group.requests]
        user_ids = [r.userId for r, _ in group.requests]
        for attempt in range(MAX_ATTEMPTS):
            concert, existing, pointers = self._entries.read_group(group.concert_id, entry_ids, user_ids)
            if concert is None:
                for (request, _), ref in zip(group.requests, group.refs, strict=True):
                    record = _find(event, ref)
                    poison = NonRetryableRecord(
                        "ConcertNotFound", f"concert {request.concertId!r} does not exist"
                    )
                    self._dead_letter(event, record, poison, result)
                return
            now = self._clock()
            now_ms = int(now.timestamp() * 1000)
            plan = plan_group(concert, group.requests, existing, pointers, _liveness(concert, now_ms), now)
            if not plan.has_writes:
                result.already_done += plan.already_done
                return
            try:
                result.transactions += self._entries.write_plan(concert, plan)
            except Conflict:
                result.conflicts += 1
                logger.info(
                    "positioning raced, re-reading",
                    extra={"concertId": group.concert_id, "attempt": attempt + 1},
                )
                self._sleep(random.uniform(0, min(0.01 * 2**attempt, 0.32)))
                continue
            result.positioned += len(plan.new_entries)
            result.aliased += len(plan.aliases)
            result.already_done += plan.already_done
            return
        raise RuntimeError(f"concert {group.concert_id}: still conflicting after {MAX_ATTEMPTS} attempts")


def _liveness(concert: ConcertItem, now_ms: int) -> Callable[[EntryItem], bool]:
    return lambda entry: entry_view(entry, concert, now_ms).status not in ENDED


def _find(event: KafkaEvent, ref: RecordRef) -> KafkaRecord:
    return next(r for r in event.records[ref.partition_id] if r.offset == ref.offset)
