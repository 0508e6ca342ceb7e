"""API Gateway route selection: most specific route first, ANY, {proxy+}, $default, 404/405."""

from __future__ import annotations

import pytest

from infra.runtime.http_routes import Route, RouteTable
from infra.template.models import HttpApiEventSpec


def _spec(method: str, path: str) -> HttpApiEventSpec:
    return HttpApiEventSpec(f"{method}{path}", "Fn", "HttpApi", method, path)


TABLE = RouteTable(
    [
        _spec("GET", "/"),
        _spec("GET", "/coupons"),
        _spec("GET", "/coupons/{id}"),
        _spec("GET", "/coupons/latest"),
        _spec("ANY", "/coupons/{id}"),
        _spec("POST", "/coupons/{id}/issue"),
        _spec("ANY", "/coupons/{proxy+}"),
        _spec("GET", "/static/{proxy+}"),
        _spec("GET", "/static/{proxy+}".replace("{proxy+}", "img/{file}")),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/", "GET /", {}),
        ("GET", "/coupons", "GET /coupons", {}),
        ("GET", "/coupons/", "GET /coupons", {}),
        ("GET", "/coupons/latest", "GET /coupons/latest", {}),  # static beats {id}
        ("GET", "/coupons/c1", "GET /coupons/{id}", {"id": "c1"}),  # exact method beats ANY
        ("DELETE", "/coupons/c1", "ANY /coupons/{id}", {"id": "c1"}),
        ("POST", "/coupons/c%201/issue", "POST /coupons/{id}/issue", {"id": "c 1"}),
        ("GET", "/coupons/c1/issue", "ANY /coupons/{proxy+}", {"proxy": "c1/issue"}),  # greedy last
        ("GET", "/static/img/a.png", "GET /static/img/{file}", {"file": "a.png"}),
        ("GET", "/static/css/a/b.css", "GET /static/{proxy+}", {"proxy": "css/a/b.css"}),
    ],
)
def test_most_specific_route_wins(method, path, route_key, params):
    match = TABLE.resolve(method, path)
    assert match.route is not None and match.route.key == route_key
    assert match.path_parameters == params


def test_unknown_path_and_wrong_method():
    unknown = TABLE.resolve("GET", "/nothing")
    assert unknown.route is None and unknown.allowed == ()
    wrong = TABLE.resolve("DELETE", "/coupons")
    assert wrong.route is None and wrong.allowed == ("GET",)
    assert TABLE.resolve("GET", "/static").route is None  # {proxy+} needs at least one segment


def test_default_route_catches_the_rest():
    table = RouteTable([_spec("GET", "/a"), _spec("ANY", "$default")])
    assert table.resolve("GET", "/a").route.key == "GET /a"  # type: ignore[union-attr]
    assert table.resolve("POST", "/a").route.key == "$default"  # type: ignore[union-attr]
    assert table.resolve("GET", "/b/c").route.key == "$default"  # type: ignore[union-attr]


def test_greedy_segment_must_be_last():
    with pytest.raises(ValueError, match="must be the last segment"):
        Route.of(_spec("GET", "/{proxy+}/x"))
