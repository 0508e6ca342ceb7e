"""--since/--until: ISO 8601 or a duration back from now; bad text is a clear error."""

from __future__ import annotations

import argparse

import pytest

from infra.dlt.selection import Selection, parse_time


def test_iso_and_relative_times():
    assert parse_time("2026-12-02T02:00:00Z") == 1796176800000
    assert parse_time("2026-12-02T02:00:00") == 1796176800000  # no zone: UTC
    assert parse_time("2026-12-02T03:00:00+01:00") == 1796176800000
    assert parse_time("30m", now=1000.0) == (1000 - 1800) * 1000
    assert parse_time("1d", now=100_000.0) == (100_000 - 86_400) * 1000


def test_bad_time_names_the_accepted_forms():
    with pytest.raises(argparse.ArgumentTypeError, match="ISO 8601"):
        parse_time("yesterday")


def test_window_is_since_inclusive_until_exclusive():
    window = Selection(since_ms=100, until_ms=200)
    assert [window.matches_time(t) for t in (99, 100, 199, 200)] == [False, True, True, False]
    with pytest.raises(ValueError, match="before --until"):
        Selection(since_ms=200, until_ms=100)
