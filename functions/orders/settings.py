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
