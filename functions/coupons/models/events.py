"""Kafka event shapes: the issue-request value, the SelfManagedKafka Lambda event, the DLT message."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from coupons.models.types import CouponId, UserId, UtcDatetime, iso


class IssueRequested(BaseModel):
    """Value of a record on COUPON_ISSUE_TOPIC (JSON, key = couponId as UTF-8)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requestId: UUID
    couponId: CouponId
    userId: UserId
    requestedAt: UtcDatetime

    @field_serializer("requestedAt")
    def _iso(self, value: datetime) -> str:
        return iso(value)


class KafkaRecord(BaseModel):
    """One record as Lambda delivers it (key/value base64; header bytes as signed Java bytes)."""

    model_config = ConfigDict(extra="allow")

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestampType: str = "CREATE_TIME"
    key: str | None = None
    value: str | None = None
    headers: list[dict[str, list[int]]] = Field(default_factory=list)

    @property
    def partition_id(self) -> str:
        """The `<topic>-<partition>` identifier used in `records` and in batchItemFailures."""
        return f"{self.topic}-{self.partition}"


class KafkaEvent(BaseModel):
    """The SelfManagedKafka (or MSK, `aws:kafka`) event a Kafka-triggered function receives."""

    model_config = ConfigDict(extra="allow")

    eventSource: str
    bootstrapServers: str | None = None
    records: dict[str, list[KafkaRecord]]

    def iter_records(self) -> list[KafkaRecord]:
        return [record for batch in self.records.values() for record in batch]


class DeadLetter(BaseModel):
    """What the issuer publishes to COUPON_DLT_TOPIC for a record that can never succeed.

    `payload` is the one-record event object, the same field AWS puts in its on-failure message, so
    one redrive tool reads both.
    """

    condition: Literal["NonRetryableError"] = "NonRetryableError"
    reason: str
    errorType: str
    timestamp: str
    payload: dict[str, Any]
