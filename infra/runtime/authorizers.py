"""Route authorization of the local HTTP API, as API Gateway HTTP APIs do it (route specs: auth.py).

JWT authorizers (API Gateway's workflow):
1. The token is the identity source's value (`$request.header.Authorization` by default), alone or
   after `Bearer `. Missing: 401 {"message":"Unauthorized"}.
2. Its signature must verify with a key of the issuer's JWKS: `jwks_uri` of
   `<issuer>/.well-known/openid-configuration` (fetched once and cached, like API Gateway's key
   cache; a `kid` not in the cache refetches), RSA algorithms only.
3. `iss` must be the issuer; `aud`, else `client_id`, one of the audiences; `exp` in the future,
   `nbf` and `iat` in the past. Any failure: 401.
4. When the route has AuthorizationScopes, the `scope` (space separated) or `scp` claim must hold
   one of them, else 403 {"message":"Forbidden"}.
The function then gets `requestContext.authorizer.jwt` = {"claims": {...}, "scopes": [...] | None},
claim values as strings, as API Gateway passes them (lists become "[a b]").

Lambda authorizers (REQUEST, payload 2.0, simple responses): an identity source that is missing is
401 without invoking the authorizer; the authorizer gets API Gateway's 2.0 request (`type`
"REQUEST", `routeArn`, `identitySource` and the request fields); `{"isAuthorized": true, "context":
{...}}` lets the request through with `requestContext.authorizer.lambda` = the context; false is 403
{"message":"Forbidden"}; an authorizer that fails or answers something else is 500 {"message":
"Internal Server Error"}.

Differs from AWS: no result caching (every request is authorized); an `http://` issuer is accepted
(a local identity provider), AWS requires https.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from infra.runtime.http_payload import HttpRequest, HttpResponse
from infra.runtime.invoker import Invoker
from infra.template.auth import RouteAuth

log = logging.getLogger(__name__)

_RSA_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
_FETCH_TIMEOUT_S = 10


def _json_response(status: int, message: str) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


UNAUTHORIZED = _json_response(401, "Unauthorized")
FORBIDDEN = _json_response(403, "Forbidden")
AUTHORIZER_FAILED = _json_response(500, "Internal Server Error")


@dataclass(frozen=True)
class AuthOutcome:
    """Either a response that ends the request, or what goes under `requestContext.authorizer`."""

    denied: HttpResponse | None = None
    context: dict[str, Any] | None = None


def identity_value(source: str, event: dict[str, Any]) -> str | None:
    """`$request.header.X` / `$request.querystring.X` of a 2.0 event."""
    if source.startswith("$request.header."):
        return (event.get("headers") or {}).get(source.removeprefix("$request.header.").lower())
    if source.startswith("$request.querystring."):
        return (event.get("queryStringParameters") or {}).get(source.removeprefix("$request.querystring."))
    return None


class Authorizers:
    def __init__(self, invoker: Invoker, *, region: str, account_id: str) -> None:
        self._invoker = invoker
        self._region = region
        self._account_id = account_id
        self._jwks: dict[str, jwt.PyJWKClient] = {}
        self._lock = threading.Lock()

    def check(self, auth: RouteAuth, request: HttpRequest, event: dict[str, Any]) -> AuthOutcome:
        if auth.kind == "jwt":
            return self._jwt(auth, event)
        if auth.kind == "lambda":
            return self._lambda(auth, request, event)
        return AuthOutcome()  # unenforced: only reachable with --no-auth (the route's status says so)

    # ---- JWT --------------------------------------------------------------------------------------

    def _jwt(self, auth: RouteAuth, event: dict[str, Any]) -> AuthOutcome:
        token = identity_value(auth.identity_source[0], event)
        if not token:
            return AuthOutcome(UNAUTHORIZED)
        token = token.removeprefix("Bearer ").strip()
        try:
            key = self._jwks_client(auth.issuer).get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=_RSA_ALGORITHMS,
                issuer=auth.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            log.info("HTTP API: JWT rejected by %s: %s", auth.authorizer, exc)
            return AuthOutcome(UNAUTHORIZED)
        audience = claims.get("aud") or claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(a in auth.audience for a in audiences):
            return AuthOutcome(UNAUTHORIZED)
        granted = _scopes(claims)
        if auth.scopes and not set(auth.scopes) & set(granted):
            return AuthOutcome(FORBIDDEN)
        return AuthOutcome(
            context={
                "jwt": {
                    "claims": {name: _claim_text(value) for name, value in claims.items()},
                    "scopes": list(auth.scopes) if auth.scopes else None,
                }
            }
        )

    def _jwks_client(self, issuer: str) -> jwt.PyJWKClient:
        with self._lock:
            client = self._jwks.get(issuer)
            if client is None:
                discovery = f"{issuer}/.well-known/openid-configuration"
                with urllib.request.urlopen(discovery, timeout=_FETCH_TIMEOUT_S) as response:
                    jwks_uri = json.load(response)["jwks_uri"]
                client = jwt.PyJWKClient(jwks_uri, cache_keys=True, timeout=_FETCH_TIMEOUT_S)
                self._jwks[issuer] = client
            return client

    # ---- Lambda -----------------------------------------------------------------------------------

    def _lambda(self, auth: RouteAuth, request: HttpRequest, event: dict[str, Any]) -> AuthOutcome:
        values = [identity_value(source, event) for source in auth.identity_source]
        if any(not value for value in values):
            return AuthOutcome(UNAUTHORIZED)
        context = event["requestContext"]
        route_arn = (
            f"arn:aws:execute-api:{self._region}:{self._account_id}:{context['apiId']}/{context['stage']}/"
            f"{context['http']['method']}{context['http']['path']}"
        )
        request_event = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": route_arn,
            "identitySource": values,
            **{k: v for k, v in event.items() if k not in ("version", "body", "isBase64Encoded")},
        }
        result = self._invoker.invoke(auth.function_id, request_event)
        answer = result.payload if result.ok else None
        if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool):
            log.warning(
                "HTTP API: Lambda authorizer %s (%s) failed or answered no isAuthorized: %s",
                auth.authorizer,
                auth.function_id,
                result.error_message if not result.ok else answer,
            )
            return AuthOutcome(AUTHORIZER_FAILED)
        if not answer["isAuthorized"]:
            return AuthOutcome(FORBIDDEN)
        lambda_context = answer.get("context")
        return AuthOutcome(context={"lambda": lambda_context if isinstance(lambda_context, dict) else {}})


def _scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list):
        return [str(s) for s in scope]
    return []


def _claim_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
