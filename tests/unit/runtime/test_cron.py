"""EventBridge schedule expressions: parsing and the next fire time (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.runtime.schedule import CronSchedule, RateSchedule, parse_expression

# A Sunday.
NOW = datetime(2026, 11, 22, 3, 9, 30, tzinfo=UTC)


def _next(expression: str, after: datetime = NOW) -> datetime | None:
    schedule = parse_expression(expression)
    assert isinstance(schedule, CronSchedule)
    return schedule.next_after(after)


def _at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 10 * * ? *)", _at(2026, 11, 22, 10, 0)),  # every day 10:00
        ("cron(15 12 * * ? *)", _at(2026, 11, 22, 12, 15)),
        ("cron(0/15 * * * ? *)", _at(2026, 11, 22, 3, 15)),  # every 15 minutes
        ("cron(5/10 * * * ? *)", _at(2026, 11, 22, 3, 15)),
        ("cron(9 3 * * ? *)", _at(2026, 11, 23, 3, 9)),  # 03:09 has just passed today
        ("cron(0 18 ? * MON-FRI *)", _at(2026, 11, 23, 18, 0)),
        ("cron(0 8 1 * ? *)", _at(2026, 12, 1, 8, 0)),
        ("cron(0 8 1 JAN,JUL ? *)", _at(2027, 1, 1, 8, 0)),
        ("cron(0 0 L * ? *)", _at(2026, 11, 30, 0, 0)),  # last day of the month
        ("cron(0 9 ? * 6L *)", _at(2026, 11, 27, 9, 0)),  # last Friday
        ("cron(0 9 ? * 3#2 *)", _at(2026, 12, 8, 9, 0)),  # second Tuesday
        ("cron(0 9 ? * L *)", _at(2026, 11, 28, 9, 0)),  # L in day-of-week: Saturday
        ("cron(0 9 LW * ? *)", _at(2026, 11, 30, 9, 0)),  # last weekday
        ("cron(0 9 28W * ? *)", _at(2026, 11, 27, 9, 0)),  # the 28th is a Saturday: Friday the 27th
        ("cron(0 9 1W 2 ? *)", _at(2027, 2, 1, 9, 0)),  # Feb 1 2027 is a Monday
        ("cron(0 9 1W 5 ? 2027)", _at(2027, 5, 3, 9, 0)),  # Saturday the 1st: Monday the 3rd, not April
        ("cron(0 0 29 2 ? *)", _at(2028, 2, 29, 0, 0)),  # leap day
        ("cron(0 0 1 1 ? 2030-2032)", _at(2030, 1, 1, 0, 0)),
        ("cron(30 1 ? * SUN,7 *)", _at(2026, 11, 28, 1, 30)),  # SAT is 7
        ("cron(0 0 1 1 ? 2020)", None),  # only in the past
    ],
)
def test_next_fire_time(expression, expected):
    assert _next(expression) == expected


def test_next_after_is_strictly_later_and_whole_minutes():
    exact = _at(2026, 11, 22, 10, 0)
    assert _next("cron(0 10 * * ? *)", exact) == exact + timedelta(days=1)
    assert _next("cron(* * * * ? *)", NOW) == _at(2026, 11, 22, 3, 10)


def test_rate_units():
    assert parse_expression("rate(1 minute)") == RateSchedule(timedelta(minutes=1))
    assert parse_expression("rate(5 minutes)") == RateSchedule(timedelta(minutes=5))
    assert parse_expression("rate(2 hours)") == RateSchedule(timedelta(hours=2))
    assert parse_expression("rate(1 day)") == RateSchedule(timedelta(days=1))
    assert parse_expression("rate(5 minutes)").next_after(NOW) == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 seconds)", "not a rate"),
        ("every 5 minutes", "not a rate"),
        ("cron(0 10 * * *)", "6 fields"),
        ("cron(0 10 * * * *)", "exactly one"),
        ("cron(0 10 ? * ? *)", "exactly one"),
        ("cron(60 10 * * ? *)", "outside 0-59"),
        ("cron(0 24 * * ? *)", "outside 0-23"),
        ("cron(0 10 * 13 ? *)", "outside 1-12"),
        ("cron(0 10 ? * 8 *)", "outside 1-7"),
        ("cron(0 10 * * ? 1969)", "outside 1970-2199"),
        ("cron(0 10 L-2 * ? *)", "not supported"),
        ("cron(0 10 ? * 2#1,3#1 *)", "alone"),
        ("cron(0 10 ? * */2 *)", "'/' is not supported"),
        ("cron(0 10 ? * MON#6 *)", "outside 1-5"),
        ("cron(0 10-8 * * ? *)", "backwards"),
        ("cron(0 10 * FOO ? *)", "not supported"),
    ],
)
def test_unsupported_expressions_are_clear_errors(expression, message):
    with pytest.raises(ValueError, match=message):
        parse_expression(expression)
