"""Dead letters a consumer publishes itself, for records that can never succeed.

Retrying such a record cannot help, and the reason is what an operator needs, so the consumer sends it
straight to the dead-letter topic instead of letting the event source retry it into AWS's on-failure
message. The original record goes under `payload`, the field AWS's message uses too, so one re-drive
tool reads both; its headers (the correlation id among them) travel inside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from common.kafka_records import KafkaEvent, KafkaRecord, NonRetryableRecord, RecordRef, record_key
from common.observability import logger
from common.ports import Publisher
from common.types import iso

JSON_HEADERS = (("content-type", b"application/json"),)


class DeadLetter(BaseModel):
    condition: Literal["NonRetryableError"] = "NonRetryableError"
    reason: str
    errorType: str
    timestamp: str
    payload: dict[str, Any]


def publish_dead_letter(
    publisher: Publisher,
    topic: str,
    event: KafkaEvent,
    record: KafkaRecord,
    poison: NonRetryableRecord,
    now: datetime,
) -> bool:
    """Publish the record's dead letter; False when the broker did not acknowledge it (the caller must
    then report the record as a batch item failure, so nothing is lost)."""
    message = DeadLetter(
        reason=poison.reason,
        errorType=poison.error_type,
        timestamp=iso(now),
        payload={
            "eventSource": event.eventSource,
            "bootstrapServers": event.bootstrapServers,
            "records": {record.partition_id: [record.model_dump(mode="json", exclude_unset=True)]},
        },
    )
    ref = RecordRef.of(record)
    try:
        publisher.publish(topic, record_key(record), message.model_dump_json().encode(), JSON_HEADERS)
    except Exception:
        logger.exception("dead-letter publish failed", extra={"record": ref.__dict__})
        return False
    logger.warning(
        "record dead-lettered",
        extra={"reason": poison.reason, "errorType": poison.error_type, "topic": topic, **ref.__dict__},
    )
    return True
