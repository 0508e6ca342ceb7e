"""The outbox functions' settings (set by template.yaml on AWS and by the local runtime)."""

from __future__ import annotations

from pydantic import Field

from common.settings import FunctionSettings


class OutboxSettings(FunctionSettings):
    table_name: str = Field(alias="OUTBOX_TABLE_NAME")
    published_ttl_days: int = Field(alias="OUTBOX_PUBLISHED_TTL_DAYS", default=7, ge=1)


class SweeperSettings(OutboxSettings):
    stale_seconds: int = Field(alias="OUTBOX_STALE_SECONDS", ge=1)
    alert_attempts: int = Field(alias="OUTBOX_ALERT_ATTEMPTS", ge=1)
    lease_seconds: int = Field(alias="OUTBOX_LEASE_SECONDS", default=30, ge=1)
    alert_topic: str = Field(alias="OUTBOX_ALERT_TOPIC")
    limit: int = Field(alias="OUTBOX_SWEEP_LIMIT", default=500, ge=1)
