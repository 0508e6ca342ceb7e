"""EventBridge content filtering as Lambda applies FilterCriteria (infra/runtime/filters.py)."""

from __future__ import annotations

import pytest

from infra.runtime.filters import RecordFilter

ORDER = {"value": {"type": "ORDER_PAID", "amount": 120, "tags": ["a", "vip"], "email": "Ann@X.io", "n": None}}


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"value": {"type": ["ORDER_PAID"]}}, True),
        ({"value": {"type": ["ORDER_SHIPPED"]}}, False),
        ({"value": {"amount": [120.0]}}, True),
        ({"value": {"amount": ["120"]}}, False),
        ({"value": {"tags": ["vip"]}}, True),
        ({"value": {"n": [None]}}, True),
        ({"value": {"type": [{"prefix": "ORDER_"}]}}, True),
        ({"value": {"type": [{"suffix": "_PAID"}]}}, True),
        ({"value": {"email": [{"suffix": {"equals-ignore-case": "@x.IO"}}]}}, True),
        ({"value": {"type": [{"anything-but": "ORDER_PAID"}]}}, False),
        ({"value": {"type": [{"anything-but": ["A", "B"]}]}}, True),
        ({"value": {"type": [{"anything-but": {"prefix": "ORDER"}}]}}, False),
        ({"value": {"missing": [{"anything-but": "x"}]}}, False),
        ({"value": {"amount": [{"numeric": [">", 100, "<=", 120]}]}}, True),
        ({"value": {"amount": [{"numeric": ["<", 100]}]}}, False),
        ({"value": {"amount": [{"exists": True}]}}, True),
        ({"value": {"missing": [{"exists": False}]}}, True),
        ({"value": {"email": [{"equals-ignore-case": "ann@x.io"}]}}, True),
        ({"value": {"type": [{"wildcard": "ORD*PA*"}]}}, True),
        ({"value": {"type": [{"wildcard": "*SHIP*"}]}}, False),
        ({"value": {"$or": [{"type": ["X"]}, {"amount": [120]}]}}, True),
        ({"value": {"$or": [{"type": ["X"]}, {"amount": [1]}]}}, False),
    ],
)
def test_operator(pattern, matches):
    assert RecordFilter([pattern]).matches(ORDER) is matches


def test_plain_string_values_and_or_between_patterns():
    f = RecordFilter([{"value": ["exact"]}, {"value": [{"prefix": "hel"}]}])
    assert f.matches({"value": "hello"}) and f.matches({"value": "exact"})
    assert not f.matches({"value": "nope"}) and not f.matches({})


def test_dynamodb_record_pattern():
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": {"status": {"S": "PAID"}}}}
    assert RecordFilter(
        [{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["PAID"]}}}}]
    ).matches(record)
    assert not RecordFilter([{"eventName": ["REMOVE"]}]).matches(record)


def test_no_patterns_match_everything():
    assert RecordFilter([]).matches({"anything": 1})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"value": {"ip": [{"cidr": "10.0.0.0/8"}]}}, "cidr"),
        ({"value": {"a": "not-a-list"}}, "must be a list"),
        ({"value": {"a": [{"numeric": [">>", 1]}]}}, "numeric"),
        ({"value": {"a": [{"prefix": "a", "suffix": "b"}]}}, "exactly one key"),
    ],
)
def test_invalid_patterns_fail_at_construction(pattern, message):
    with pytest.raises(ValueError, match=message):
        RecordFilter([pattern])


def test_at_most_five_patterns():
    with pytest.raises(ValueError, match="at most 5"):
        RecordFilter([{"a": [1]}] * 6)
