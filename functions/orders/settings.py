"""The orders functions' settings (set by template.yaml on AWS and by the local runtime)."""

from __future__ import annotations

from pydantic import Field

from common.settings import FunctionSettings


class OrdersSettings(FunctionSettings):
    table_name: str = Field(alias="ORDERS_TABLE_NAME")
    outbox_table: str = Field(alias="OUTBOX_TABLE_NAME")
    coupons_table: str = Field(alias="COUPONS_TABLE_NAME")


class PaymentTimeoutSettings(OrdersSettings):
    payment_timeout_seconds: int = Field(alias="PAYMENT_TIMEOUT_SECONDS", ge=1)
    limit: int = Field(alias="PAYMENT_TIMEOUT_SWEEP_LIMIT", default=500, ge=1)


class DataPlatformSettings(FunctionSettings):
    url: str = Field(alias="DATA_PLATFORM_URL", pattern=r"^https?://")
    timeout_seconds: float = Field(alias="DATA_PLATFORM_TIMEOUT_SECONDS", default=2.0, gt=0)
    retry_budget_seconds: float = Field(alias="DATA_PLATFORM_RETRY_BUDGET_SECONDS", default=20.0, ge=0)
