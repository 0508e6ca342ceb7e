"""The relay: outbox INSERTs from the table's stream, published to Kafka.

It does not mark items: an event read back from Kafka (the confirmer) is the proof of publication.

Per-aggregate order with one round trip per wave rather than per record: each wave sends the first
unsent record of every aggregate in the batch together, so one aggregate's records go one at a time,
in stream order, while different aggregates share the wait for acks. When a record fails, nothing
more of its aggregate is sent, the records before it are still sent, and it is reported
(ReportBatchItemFailures): the event source retries from it. Records of other aggregates after it
that were already sent are sent again then, after their own earlier records (duplicates, which the
consumers' inbox absorbs); no aggregate's record ever reaches Kafka ahead of an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.observability import logger
from common.outbox.envelope import OutboxEvent
from common.outbox.items import NotAnOutboxItem, event_from_item
from common.ports import BatchPublisher, Outgoing


@dataclass
class RelayResult:
    published: int = 0
    not_outbox: int = 0
    failed_sequence: str | None = None
    correlation_ids: list[str] = field(default_factory=list)

    def batch_response(self) -> dict[str, list[dict[str, str]]]:
        failures = [{"itemIdentifier": self.failed_sequence}] if self.failed_sequence else []
        return {"batchItemFailures": failures}


@dataclass(frozen=True)
class _Pending:
    sequence: str
    event: OutboxEvent

    def outgoing(self) -> Outgoing:
        event = self.event
        return Outgoing(event.topic, event.kafka_key(), event.kafka_value(), event.kafka_headers())


def next_wave(aggregates: list[bytes], sent: list[bool], stop_at: int) -> list[int]:
    """Indexes of the first unsent record of each aggregate among the first `stop_at` records."""
    wave: list[int] = []
    taken: set[bytes] = set()
    for index in range(stop_at):
        if sent[index]:
            continue
        if aggregates[index] not in taken:  # else an earlier record of it is unsent: it waits
            taken.add(aggregates[index])
            wave.append(index)
    return wave


class Relay:
    def __init__(self, publisher: BatchPublisher) -> None:
        self.publisher = publisher

    def process(self, records: list[dict[str, Any]]) -> RelayResult:
        result = RelayResult()
        pending: list[_Pending] = []
        for record in records:
            data = record.get("dynamodb") or {}
            try:
                event = event_from_item(data.get("NewImage") or {})
            except NotAnOutboxItem as exc:
                # The filter lets only outbox INSERTs through; anything else can never be published.
                result.not_outbox += 1
                logger.error("stream record is not an outbox item", extra={"reason": str(exc)})
                continue
            pending.append(_Pending(str(data.get("SequenceNumber") or ""), event))
        aggregates = [p.event.kafka_key() for p in pending]
        sent = [False] * len(pending)
        stop_at = len(pending)  # the first failed record's index: nothing at or after it is sent again
        while wave := next_wave(aggregates, sent, stop_at):
            outcomes = self.publisher.publish_all([pending[index].outgoing() for index in wave])
            for index, error in zip(wave, outcomes, strict=True):
                event = pending[index].event
                if error is not None:
                    logger.error(
                        "relay publish failed",
                        extra={"eventId": event.event_id, "topic": event.topic, "reason": str(error)},
                    )
                    stop_at = min(stop_at, index)
                    continue
                sent[index] = True
                result.published += 1
                if event.correlation_id:
                    result.correlation_ids.append(event.correlation_id)
        if stop_at < len(pending):
            result.failed_sequence = pending[stop_at].sequence
        return result
