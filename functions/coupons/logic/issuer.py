"""Issuer orchestration: decode a Kafka batch, dead-letter poison records, settle each coupon group.

Correctness never relies on one consumer per partition: issues are conditional transactions, a
cancelled one means "the table moved under us", answered by re-reading and deciding again, and only
final verdicts are reported (see coupons.dal.issuer_repo for why that makes plain outcome puts safe).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from common import correlation
from common.dead_letters import publish_dead_letter
from common.kafka_records import KafkaEvent, NonRetryableRecord, RecordRef
from common.observability import logger
from common.ports import Publisher
from common.types import utc_now
from coupons.errors import WriteRejected
from coupons.logic.allocation import Allocation, allocate
from coupons.logic.ports import IssuerStore
from coupons.logic.records import decode_issue_request
from coupons.models.events import IssueRequested

DEFAULT_MAX_ATTEMPTS = 8


class GroupNotSettled(Exception):
    """A coupon group kept losing races; its records are reported as batch item failures."""


@dataclass
class BatchResult:
    """What this invocation did; each record lands in exactly one of failures, issued, rejected,
    already_decided (its outcome row existed) and dead_lettered."""

    failures: list[RecordRef] = field(default_factory=list)
    issued: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    already_decided: int = 0
    dead_lettered: int = 0
    write_retries: int = 0
    transactions: int = 0


@dataclass
class _Group:
    coupon_id: str
    requests: list[IssueRequested] = field(default_factory=list)
    refs: list[RecordRef] = field(default_factory=list)
    correlation_ids: list[str | None] = field(default_factory=list)


class IssuerService:
    def __init__(
        self,
        store: IssuerStore,
        publisher: Publisher,
        dlt_topic: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._dlt_topic = dlt_topic
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep

    def process(self, event: KafkaEvent) -> BatchResult:
        result = BatchResult()
        groups: dict[str, _Group] = {}
        for record in event.iter_records():
            try:
                request = decode_issue_request(record)
            except NonRetryableRecord as poison:
                if publish_dead_letter(
                    self._publisher, self._dlt_topic, event, record, poison, self._clock()
                ):
                    result.dead_lettered += 1
                else:  # not acknowledged = not safe to skip: let the ESM redeliver it
                    result.failures.append(RecordRef.of(record))
                continue
            group = groups.setdefault(request.couponId, _Group(request.couponId))
            group.requests.append(request)
            group.refs.append(RecordRef.of(record))
            group.correlation_ids.append(correlation.from_record(record))

        for group in groups.values():
            try:
                self._settle(group, result)
            except Exception:
                # One coupon's trouble must not fail the others: its records are retried by the ESM.
                logger.exception(
                    "coupon group not settled",
                    extra={
                        "couponId": group.coupon_id,
                        "correlationIds": correlation.distinct(group.correlation_ids),
                    },
                )
                result.failures.extend(group.refs)
        return result

    def _settle(self, group: _Group, result: BatchResult) -> None:
        request_ids = list(dict.fromkeys(r.requestId for r in group.requests))
        user_ids = list(dict.fromkeys(r.userId for r in group.requests))
        for attempt in range(self._max_attempts):
            state = self._store.read_group_state(group.coupon_id, request_ids, user_ids)
            allocation = allocate(
                group.coupon_id, state.coupon, group.requests, state.holders, state.reported
            )
            if not allocation.has_writes:
                result.already_decided += len(allocation.already_decided)
                return
            try:
                result.transactions += self._store.write_allocation(allocation, state.coupon, self._clock())
            except WriteRejected as rejected:
                result.write_retries += 1
                logger.info(
                    "allocation write rejected, re-reading",
                    extra={"couponId": group.coupon_id, "attempt": attempt + 1, "causes": rejected.causes},
                )
                self._sleep(_backoff(attempt))
                continue
            _count(allocation, result)
            return
        raise GroupNotSettled(
            f"coupon {group.coupon_id}: still conflicting after {self._max_attempts} attempts"
        )


def _backoff(attempt: int) -> float:
    """Full jitter, 10 ms doubling up to 320 ms: racing consumers spread out instead of colliding again."""
    return random.uniform(0, min(0.01 * 2**attempt, 0.32))


def _count(allocation: Allocation, result: BatchResult) -> None:
    # A request counts once, where its outcome row is written: an issue committed by a cancelled
    # attempt or a crashed invocation is counted by the attempt that reports it (as unreported).
    result.issued += len(allocation.issued) + len(allocation.unreported)
    result.rejected.update(rejection.reason.value for rejection in allocation.rejected)
    result.already_decided += len(allocation.already_decided)
