"""A function's settings: every missing or invalid variable is named in one error at first use."""

from __future__ import annotations

import pytest
from pydantic import Field

from common.settings import ConfigError, FunctionSettings
from coupons.handlers import api
from tests.unit.coupons.support import FakeContext, http_event


class Example(FunctionSettings):
    table_name: str = Field(alias="EXAMPLE_TABLE")
    batch: int = Field(alias="EXAMPLE_BATCH", default=10, ge=1)


def test_values_come_from_the_variables_named_by_the_aliases():
    assert Example.from_env({"EXAMPLE_TABLE": "t", "EXAMPLE_BATCH": "5"}) == Example(table_name="t", batch=5)


def test_missing_and_invalid_variables_are_all_named():
    with pytest.raises(ConfigError) as error:
        Example.from_env({"EXAMPLE_BATCH": "0"})
    text = str(error.value)
    assert "EXAMPLE_TABLE is not set" in text and "EXAMPLE_BATCH" in text and text.startswith("Example:")


def test_an_api_function_without_its_table_fails_its_first_invocation_naming_it(monkeypatch):
    monkeypatch.delenv("COUPONS_TABLE_NAME", raising=False)
    monkeypatch.setenv("COUPON_ISSUE_TOPIC", "coupon.issue-requested")
    api.set_service(None)
    with pytest.raises(ConfigError, match="COUPONS_TABLE_NAME is not set"):
        api.get_service()
    event = http_event("GET", "/coupons/x", "/coupons/{couponId}", None, {"couponId": "x"})
    with pytest.raises(ConfigError, match="COUPONS_TABLE_NAME is not set"):
        api.lambda_handler(event, FakeContext())
