"""Routes of the local HTTP API, matched like API Gateway: method + path, `{name}` path parameters,
a greedy last segment `{proxy+}`, method `ANY`, and HTTP APIs' `$default` catch-all. The most
specific route wins: segment by segment a static segment beats `{name}`, which beats `{proxy+}`;
then an exact method beats `ANY`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from infra.template.models import HttpApiEventSpec

_STATIC, _PARAM, _GREEDY = 2, 1, 0


@dataclass(frozen=True)
class Route:
    spec: HttpApiEventSpec
    segments: tuple[str, ...]
    # Derived once from `segments` (matching runs on every request): each segment's kind, the
    # parameter name of `{name}`/`{proxy+}` segments, and the route's rank.
    kinds: tuple[int, ...] = field(init=False)
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(_kind(s) for s in self.segments))
        object.__setattr__(self, "names", tuple(s.strip("{}").removesuffix("+") for s in self.segments))

    @classmethod
    def of(cls, spec: HttpApiEventSpec) -> Route:
        if spec.path == "$default":
            return cls(spec, ())
        segments = tuple(s for s in spec.path.split("/") if s)
        for i, segment in enumerate(segments):
            if segment.endswith("+}") and i != len(segments) - 1:
                raise ValueError(
                    f"route {spec.method} {spec.path}: a greedy {segment} must be the last segment"
                )
        return cls(spec, segments)

    @property
    def is_default(self) -> bool:
        return self.spec.path == "$default"

    @property
    def key(self) -> str:
        """The route key, as in `routeKey`: "$default" or "POST /coupons/{couponId}/issue"."""
        return "$default" if self.is_default else f"{self.spec.method} {self.spec.path}"

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """The path parameters when this route's path matches the (decoded) request segments."""
        kinds = self.kinds
        greedy = bool(kinds) and kinds[-1] == _GREEDY
        if len(parts) != len(kinds) and not (greedy and len(parts) >= len(kinds)):
            return None  # {proxy+} needs at least one segment
        params: dict[str, str] = {}
        for i, kind in enumerate(kinds):
            if kind == _STATIC:
                if self.segments[i] != parts[i]:
                    return None
            elif kind == _PARAM:
                params[self.names[i]] = parts[i]
            else:
                params[self.names[i]] = "/".join(parts[i:])
        return params

    def rank(self) -> tuple[tuple[int, ...], int]:
        """Higher is more specific: per-segment weights, then an exact method over ANY."""
        return self.kinds, int(self.spec.method != "ANY")


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    if segment.startswith("{") and segment.endswith("}"):
        return _PARAM
    return _STATIC


@dataclass(frozen=True)
class RouteMatch:
    """The route for a request, or None with the methods the path does allow (empty: unknown path)."""

    route: Route | None
    path_parameters: dict[str, str]
    allowed: tuple[str, ...] = ()


class RouteTable:
    def __init__(self, specs: list[HttpApiEventSpec]) -> None:
        routes = [Route.of(spec) for spec in specs]
        self.default = next((r for r in routes if r.is_default), None)
        self.routes = [r for r in routes if not r.is_default]
        # Only routes with as many segments as the path can match it, besides greedy ones: looked up
        # per request, instead of trying every route (29 in template.yaml) on every request.
        self._greedy = [r for r in self.routes if r.kinds and r.kinds[-1] == _GREEDY]
        self._by_length: dict[int, list[Route]] = {}
        for route in self.routes:
            if route not in self._greedy:
                self._by_length.setdefault(len(route.segments), []).append(route)

    def resolve(self, method: str, path: str) -> RouteMatch:
        parts = [unquote(p) for p in path.split("/") if p]
        candidates = self._by_length.get(len(parts), [])
        if self._greedy:
            candidates = candidates + self._greedy
        on_path = [(route, params) for route in candidates if (params := route.match(parts)) is not None]
        for_method = [(r, p) for r, p in on_path if r.spec.method in (method, "ANY")]
        if for_method:
            route, params = max(for_method, key=lambda rp: rp[0].rank())
            return RouteMatch(route, params)
        if self.default is not None:
            return RouteMatch(self.default, {})
        return RouteMatch(None, {}, tuple(sorted({r.spec.method for r, _ in on_path})))
