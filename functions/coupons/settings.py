"""Environment the coupon functions read (set by template.yaml on AWS and by the local runtime)."""

from __future__ import annotations

import os


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return require_env("COUPONS_TABLE_NAME")


def issue_topic() -> str:
    return require_env("COUPON_ISSUE_TOPIC")


def dlt_topic() -> str:
    return require_env("COUPON_DLT_TOPIC")
