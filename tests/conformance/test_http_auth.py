"""Authorizers (http_auth/): a route protected on AWS is never open locally. JWT authorizers check
the token against the issuer's JWKS, issuer, audience, expiry and scopes with API Gateway's 401/403;
Lambda authorizers (2.0, simple responses) decide with their own function; the function sees
`requestContext.authorizer` as on AWS; Auth the runtime cannot enforce (a REST Cognito authorizer)
is refused unless --no-auth, and then its route says so in status."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from common.config import Endpoints
from infra.runtime.app import LocalRuntime
from infra.template import TemplateError
from tests.conformance.conftest import HERE, RuntimeFactory

TEMPLATE = HERE / "http_auth" / "template.yaml"


class Issuer:
    """A local OpenID provider: discovery document and JWKS over HTTP, and tokens signed with its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwks = json.dumps({"keys": [{**public, "kid": "key-1", "use": "sig", "alg": "RS256"}]}).encode()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = json.dumps({"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}).encode()
                elif self.path == "/jwks.json":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "orders-api", "sub": "user-1", "iat": now, "exp": now + 300, **claims}
        body = {name: value for name, value in body.items() if value is not None}  # aud=None: no aud
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": "key-1"})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    provider = Issuer()
    yield provider
    provider.server.shutdown()


def _call(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, method=method, headers=headers or {}, data=b"{}" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_auth_it_cannot_enforce_is_refused_without_no_auth(tmp_path: Path) -> None:
    runtime = LocalRuntime(
        TEMPLATE,
        Endpoints(kafka_bootstrap_servers="127.0.0.1:1", dynamodb="http://127.0.0.1:1"),
        state_dir=tmp_path,
    )
    with pytest.raises(TemplateError) as refused:
        runtime.start()
    message = str(refused.value)
    assert "--no-auth" in message and "OrdersFunction.AdminReport (GET /admin/report)" in message
    assert "Cognito authorizer CognitoAuth" in message


@pytest.mark.timeout(240)
def test_authorizers_are_enforced(start_runtime: RuntimeFactory, issuer: Issuer) -> None:
    runtime = start_runtime(TEMPLATE, no_auth=True, parameter_overrides={"IssuerUrl": issuer.url})
    orders = runtime.url + "/orders"

    # JWT: API Gateway's 401 for a missing or invalid token.
    assert _call(orders) == (401, {"message": "Unauthorized"})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (
        issuer.token(key=other_key),  # not signed by the issuer's key
        issuer.token(aud="someone-else"),
        issuer.token(exp=int(time.time()) - 10),
        issuer.token(iss="https://elsewhere.example.com"),
    ):
        assert _call(orders, headers={"Authorization": f"Bearer {bad}"})[0] == 401

    status, body = _call(orders, headers={"Authorization": f"Bearer {issuer.token(scope='orders/read')}"})
    assert status == 200
    jwt_context = body["authorizer"]["jwt"]
    assert jwt_context["claims"]["sub"] == "user-1" and jwt_context["claims"]["aud"] == "orders-api"
    assert isinstance(jwt_context["claims"]["exp"], str) and jwt_context["scopes"] is None
    # client_id stands in for aud (access tokens of Cognito carry no aud), and the token may come bare.
    bare = issuer.token(aud=None, client_id="orders-api")
    assert _call(orders, headers={"Authorization": bare})[0] == 200

    # Scopes: a valid token without one of the route's scopes is 403.
    read_only = issuer.token(scope="orders/read")
    assert _call(orders, "POST", {"Authorization": read_only}) == (403, {"message": "Forbidden"})
    status, body = _call(orders, "POST", {"Authorization": issuer.token(scope="orders/read orders/write")})
    assert status == 200 and body["authorizer"]["jwt"]["scopes"] == ["orders/write"]

    # Authorizer: NONE opens one route of a protected API.
    assert _call(runtime.url + "/health") == (200, {"authorizer": None, "path": "/health"})

    # Lambda authorizer: 401 without the identity source, 403 when it says no, 500 when it fails.
    partner = runtime.url + "/partner/orders"
    assert _call(partner)[0] == 401
    assert _call(partner, headers={"X-Partner-Token": "wrong"}) == (403, {"message": "Forbidden"})
    assert _call(partner, headers={"X-Partner-Token": "raise"}) == (500, {"message": "Internal Server Error"})
    status, body = _call(partner, headers={"X-Partner-Token": "partner-secret"})
    assert status == 200 and body["authorizer"]["lambda"]["partner"] == "acme"
    assert body["authorizer"]["lambda"]["route"].endswith("/$default/GET/partner/orders")

    # --no-auth served the REST route open, and says so.
    assert _call(runtime.url + "/admin/report")[0] == 200
    routes = runtime.status()["sources"]["HttpApi"]["routes"]
    assert routes["GET /admin/report"]["auth"].startswith("NOT ENFORCED (--no-auth)")
    assert routes["GET /orders"]["auth"] == "jwt authorizer OAuth2"
    assert any("auth NOT enforced" in warning for warning in runtime.warnings)
