"""The coupon functions' settings (set by template.yaml on AWS and by the local runtime)."""

from __future__ import annotations

from pydantic import Field

from common.settings import FunctionSettings


class CouponApiSettings(FunctionSettings):
    table_name: str = Field(alias="COUPONS_TABLE_NAME")
    issue_topic: str = Field(alias="COUPON_ISSUE_TOPIC")


class IssuerSettings(FunctionSettings):
    table_name: str = Field(alias="COUPONS_TABLE_NAME")
    dlt_topic: str = Field(alias="COUPON_DLT_TOPIC")
