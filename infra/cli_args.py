"""argparse `type=` converters shared by surge's commands: a bad value is a usage error naming the option."""

from __future__ import annotations

import argparse
from typing import TypeVar

N = TypeVar("N", int, float)


def _number(text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None


def _allowed(value: N, ok: bool, rule: str) -> N:
    """`value` if `ok`, a comparison that holds for the allowed values (stated so that NaN, which
    fails every comparison, is refused), else a usage error saying `rule`."""
    if not ok:
        raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
    return value


def positive_int(text: str) -> int:
    value = int(_number(text, int))
    return _allowed(value, value >= 1, ">= 1")


def non_negative_int(text: str) -> int:
    value = int(_number(text, int))
    return _allowed(value, value >= 0, ">= 0")


def positive_float(text: str) -> float:
    value = float(_number(text, float))
    return _allowed(value, value > 0, "> 0")


def non_negative_float(text: str) -> float:
    value = float(_number(text, float))
    return _allowed(value, value >= 0, ">= 0")


def share(text: str) -> float:
    """A fraction of something, from 0 to 1."""
    value = float(_number(text, float))
    return _allowed(value, 0 <= value <= 1, "from 0 to 1")
