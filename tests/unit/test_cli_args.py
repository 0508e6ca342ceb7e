"""The commands' numeric options: a value out of range or not a number is a usage error naming the option."""

from __future__ import annotations

import argparse

import pytest

from infra.cli import build_parser
from infra.cli_args import non_negative_int, positive_float, positive_int


def test_values_in_range_are_converted() -> None:
    assert (positive_int("3"), non_negative_int("0"), positive_float("0.5")) == (3, 0, 0.5)


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (positive_int, "0", "must be >= 1, got 0"),
        (non_negative_int, "-1", "must be >= 0, got -1"),
        (positive_float, "0", "must be > 0, got 0.0"),
        (positive_int, "many", "expected a whole number, got 'many'"),
        (positive_float, "fast", "expected a number, got 'fast'"),
    ],
)
def test_bad_values_say_what_was_expected(convert, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        convert(text)


def test_dead_letter_show_refuses_a_zero_limit_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["dlt", "show", "coupon.issue-requested.dlt", "--limit", "0"])
    assert exited.value.code == 2
    assert "--limit" in capsys.readouterr().err
