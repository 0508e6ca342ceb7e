"""The commands' numeric options: a value out of range or not a number is a usage error naming the option."""

from __future__ import annotations

import argparse

import pytest

from infra.cli import build_parser
from infra.cli_args import non_negative_float, non_negative_int, positive_float, positive_int, share


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
        (positive_float, "nan", "must be > 0, got nan"),
        (non_negative_float, "nan", "must be >= 0, got nan"),
        (share, "nan", "must be from 0 to 1, got nan"),
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


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["demo", "coupons", "--drain-timeout", "0"], "--drain-timeout"),
        (["demo", "queue", "--silent", "1.5"], "--silent"),
        (["demo", "queue", "--interval", "0"], "--interval"),
        (["demo", "queue", "--run", "-1"], "--run"),
        (["demo", "orders", "--pay", "-0.1"], "--pay"),
        (["demo", "orders", "--outage", "-5"], "--outage"),
        (["demo", "orders", "--stock", "-1"], "--stock"),
        (["demo", "orders", "--payment-timeout", "0"], "--payment-timeout"),
    ],
)
def test_a_demo_refuses_an_out_of_range_option_before_starting_anything(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, `--silent 1.5` got as far as sampling the audience (a traceback after a stack had started).
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert option in capsys.readouterr().err


def test_shares_run_from_zero_to_one() -> None:
    assert (share("0"), share("1"), non_negative_float("0")) == (0.0, 1.0, 0.0)
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be from 0 to 1, got 1\.5"):
        share("1.5")


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "coupons", "--requests", "0"],
        ["demo", "queue", "--audience", "-3"],
        ["demo", "orders", "--products", "0"],
    ],
)
def test_a_demo_refuses_a_count_below_one_naming_it(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert f"argument {argv[2]}: must be >= 1" in capsys.readouterr().err
