"""FilterCriteria: EventBridge content-filter patterns, as Lambda applies them to event source records.

A `RecordFilter` holds up to 5 patterns (OR-ed: a record passes when any pattern matches; no
patterns = everything passes). Patterns are validated when the filter is built, so an unsupported
operator is an error at start-up (a `ValueError` naming it), never a silent "matches nothing".

Supported (the EventBridge semantics; inside one pattern all keys must match, the values listed for
one key are OR-ed, and a list in the record matches when any of its elements matches):
- exact values: strings, numbers (compared numerically: 5 matches 5.0), booleans, `null`
- `{"prefix": "a"}`, `{"suffix": "z"}` (either also as `{"equals-ignore-case": "..."}` inside)
- `{"anything-but": value | [values] | {"prefix": ..} | {"suffix": ..} | {"equals-ignore-case": ..}
  | {"wildcard": ..}}` (like EventBridge, it does not match a missing field)
- `{"numeric": [">", 0, "<=", 5]}` with `<`, `<=`, `=`, `>`, `>=`
- `{"exists": true | false}`
- `{"equals-ignore-case": "abc"}`
- `{"wildcard": "a*b"}` (`*` matches any run of characters, `\\*` is a literal star)
- `"$or": [pattern, pattern, ...]` at any level
Not supported (start-up error): `cidr` and any other operator.

What each source matches against (see the sources): Kafka `{"value": <value>}` where the value is
base64-decoded, UTF-8-decoded and JSON-parsed when it is JSON, else the plain string; a tombstone or
a non-UTF-8 value has no `value` field (unconfirmed). DynamoDB: the Lambda record itself
(`{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["PAID"]}}}}`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

MAX_PATTERNS = 5
_MISSING = object()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

# A compiled leaf matcher: (value or _MISSING) -> bool. Matchers never see lists (the caller fans out).
Matcher = Callable[[Any], bool]


class RecordFilter:
    def __init__(self, patterns: Sequence[dict[str, Any]]) -> None:
        if len(patterns) > MAX_PATTERNS:
            raise ValueError(f"FilterCriteria allows at most {MAX_PATTERNS} patterns, got {len(patterns)}")
        self._patterns = [_compile_pattern(p, "") for p in patterns]

    @property
    def active(self) -> bool:
        return bool(self._patterns)

    def matches(self, record: Any) -> bool:
        return not self._patterns or any(p(record) for p in self._patterns)


def _compile_pattern(pattern: Any, where: str) -> Callable[[Any], bool]:
    if not isinstance(pattern, dict):
        raise ValueError(f"filter pattern at {where or '/'} must be a JSON object")
    checks: list[Callable[[Any], bool]] = []
    for key, expected in pattern.items():
        path = f"{where}/{key}"
        if key == "$or":
            if not isinstance(expected, list) or not expected:
                raise ValueError(f"filter '$or' at {path} must be a non-empty list of patterns")
            checks.append(_any_of([_compile_pattern(p, path) for p in expected]))
        elif isinstance(expected, dict):
            checks.append(_nested(key, _compile_pattern(expected, path)))
        elif isinstance(expected, list):
            if not expected:
                raise ValueError(f"filter values at {path} must be a non-empty list")
            checks.append(_leaf(key, [_compile_matcher(m, path) for m in expected]))
        else:
            raise ValueError(f"filter values at {path} must be a list (e.g. [{expected!r}]) or an object")
    return lambda data: all(check(data) for check in checks)


def _any_of(alternatives: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda data: any(a(data) for a in alternatives)


def _nested(key: str, nested: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def match(data: Any) -> bool:
        value = data.get(key, _MISSING) if isinstance(data, dict) else _MISSING
        if isinstance(value, list):
            return any(nested(item) for item in value)
        return nested(value if isinstance(value, dict) else {})

    return match


def _leaf(key: str, matchers: list[Matcher]) -> Callable[[Any], bool]:
    def match(data: Any) -> bool:
        value = data.get(key, _MISSING) if isinstance(data, dict) else _MISSING
        values: list[Any] = (value or [_MISSING]) if isinstance(value, list) else [value]
        return any(m(v) for m in matchers for v in values)

    return match


def _compile_matcher(spec: Any, where: str) -> Matcher:
    if not isinstance(spec, dict):
        return _exact(spec)
    if len(spec) != 1:
        raise ValueError(f"filter operator object at {where} must have exactly one key, got {sorted(spec)}")
    ((op, arg),) = spec.items()
    builders: dict[str, Callable[[Any, str], Matcher]] = {
        "prefix": _prefix,
        "suffix": _suffix,
        "anything-but": _anything_but,
        "numeric": _numeric,
        "exists": _exists,
        "equals-ignore-case": _ignore_case,
        "wildcard": _wildcard,
    }
    builder = builders.get(op)
    if builder is None:
        raise ValueError(
            f"unsupported filter operator {op!r} at {where}; supported: {', '.join(sorted(builders))}"
        )
    return builder(arg, where)


def _exact(expected: Any) -> Matcher:
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return lambda v: v is not _MISSING and type(v) is type(expected) and v == expected
    if isinstance(expected, int | float):
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v == expected
    raise ValueError(f"unsupported filter value {expected!r}")


def _string_arg(arg: Any, op: str, where: str) -> tuple[str, bool]:
    """The operand of prefix/suffix: a string, or {"equals-ignore-case": string}."""
    if isinstance(arg, str):
        return arg, False
    if (
        isinstance(arg, dict)
        and set(arg) == {"equals-ignore-case"}
        and isinstance(arg["equals-ignore-case"], str)
    ):
        return arg["equals-ignore-case"], True
    raise ValueError(f"filter {op!r} at {where} needs a string (or {{'equals-ignore-case': string}})")


def _prefix(arg: Any, where: str) -> Matcher:
    text, fold = _string_arg(arg, "prefix", where)
    if fold:
        low = text.casefold()
        return lambda v: isinstance(v, str) and v.casefold().startswith(low)
    return lambda v: isinstance(v, str) and v.startswith(text)


def _suffix(arg: Any, where: str) -> Matcher:
    text, fold = _string_arg(arg, "suffix", where)
    if fold:
        low = text.casefold()
        return lambda v: isinstance(v, str) and v.casefold().endswith(low)
    return lambda v: isinstance(v, str) and v.endswith(text)


def _ignore_case(arg: Any, where: str) -> Matcher:
    if not isinstance(arg, str):
        raise ValueError(f"filter 'equals-ignore-case' at {where} needs a string")
    low = arg.casefold()
    return lambda v: isinstance(v, str) and v.casefold() == low


def _wildcard(arg: Any, where: str) -> Matcher:
    if not isinstance(arg, str):
        raise ValueError(f"filter 'wildcard' at {where} needs a string")
    parts = re.split(r"(?<!\\)\*", arg)
    regex = re.compile(".*".join(re.escape(p.replace("\\*", "*")) for p in parts), re.DOTALL)
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


def _anything_but(arg: Any, where: str) -> Matcher:
    if isinstance(arg, dict):
        inner = _compile_matcher(arg, f"{where}/anything-but")
        if next(iter(arg)) not in {"prefix", "suffix", "equals-ignore-case", "wildcard"}:
            raise ValueError(f"unsupported operator inside 'anything-but' at {where}: {next(iter(arg))!r}")
    elif isinstance(arg, list):
        if not arg or any(isinstance(a, dict | list) for a in arg):
            raise ValueError(f"filter 'anything-but' list at {where} must hold plain values")
        excluded = [_exact(a) for a in arg]
        inner = lambda v: any(m(v) for m in excluded)  # noqa: E731
    else:
        inner = _exact(arg)
    return lambda v: v is not _MISSING and not inner(v)


def _numeric(arg: Any, where: str) -> Matcher:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise ValueError(f"filter 'numeric' at {where} needs [op, number, ...] pairs")
    bounds: list[tuple[Callable[[float, float], bool], float]] = []
    for op, number in zip(arg[::2], arg[1::2], strict=True):
        if op not in _NUMERIC_OPS or isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"filter 'numeric' at {where}: bad comparison {op!r} {number!r}")
        bounds.append((_NUMERIC_OPS[op], float(number)))

    def match(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        return all(cmp(float(v), bound) for cmp, bound in bounds)

    return match


def _exists(arg: Any, where: str) -> Matcher:
    if not isinstance(arg, bool):
        raise ValueError(f"filter 'exists' at {where} needs true or false")
    return lambda v: (v is not _MISSING) == arg


def fields_outside(patterns: Sequence[dict[str, Any]], filterable: set[str]) -> list[str]:
    """Top-level pattern fields (also inside a top-level `$or`) a source never offers to its filter:
    such a pattern matches nothing. Lambda filters Kafka records on `value` only."""
    found: list[str] = []
    for pattern in patterns:
        for key, value in pattern.items():
            if key == "$or" and isinstance(value, list):
                found += fields_outside([v for v in value if isinstance(v, dict)], filterable)
            elif key not in filterable and key not in found:
                found.append(key)
    return found
