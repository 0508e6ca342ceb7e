"""Typed, location-aware access to one resource's (or event's) properties.

Each property is resolved only when it is read, and every error names the property path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.template.errors import TemplateError
from infra.template.intrinsics import NO_VALUE, Resolver, to_text

_MISSING: Any = object()


class Props:
    def __init__(self, raw: Any, where: str, resolver: Resolver) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise TemplateError(f"expected a mapping of properties, got {type(raw).__name__} (at {where})")
        self.raw: Mapping[str, Any] = raw
        self.where = where
        self._resolver = resolver
        self.resolver = resolver
        self._cache: dict[str, Any] = {}

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def reject_unknown(self, allowed: Iterable[str], what: str) -> None:
        unknown = sorted(set(self.raw) - set(allowed))
        if unknown:
            raise TemplateError(f"{what} has unknown or unsupported properties {unknown} (at {self.where})")

    def get(self, key: str) -> Any:
        """Resolved value, or _MISSING when absent (or AWS::NoValue)."""
        if key not in self._cache:
            value = self.raw.get(key, _MISSING)
            if value is not _MISSING:
                value = self._resolver.resolve(value, self.at(key))
            self._cache[key] = _MISSING if value is NO_VALUE else value
        return self._cache[key]

    def has(self, key: str) -> bool:
        return self.get(key) is not _MISSING

    def opt_str(self, key: str) -> str | None:
        value = self.get(key)
        return None if value is _MISSING else to_text(value, self.at(key), key)

    def req_str(self, key: str, why: str = "") -> str:
        value = self.opt_str(key)
        if value is None:
            raise TemplateError(f"{key} is required{why} (at {self.where})")
        return value

    def int_in(self, key: str, default: int, low: int, high: int, *, also: tuple[int, ...] = ()) -> int:
        value = self.get(key)
        if value is _MISSING:
            return default
        number = _as_int(value)
        if number is None or not (low <= number <= high or number in also):
            extra = f" or {', '.join(map(str, also))}" if also else ""
            raise TemplateError(
                f"{key} must be an integer in {low}..{high}{extra}, got {value!r} (at {self.at(key)})"
            )
        return number

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"  # booleans passed through parameters arrive as strings
        raise TemplateError(f"{key} must be true or false, got {value!r} (at {self.at(key)})")

    def opt_list(self, key: str) -> list[Any] | None:
        value = self.get(key)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            raise TemplateError(f"{key} must be a list, got {value!r} (at {self.at(key)})")
        return value

    def opt_dict(self, key: str) -> dict[str, Any] | None:
        value = self.get(key)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            raise TemplateError(f"{key} must be a mapping, got {value!r} (at {self.at(key)})")
        return value

    def sub(self, key: str) -> Props:
        """A nested mapping (resolved here, so an intrinsic producing the mapping works too) as Props."""
        value = self.opt_dict(key)
        return Props(value or {}, self.at(key), self._resolver)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
