"""API Gateway's Lambda proxy payloads: HTTP requests to events and function responses back.

`HttpApi` events get payload format 2.0 (SAM's default for HTTP APIs), `Api` (REST) events get 1.0.
Sources: "Create AWS Lambda proxy integrations for HTTP APIs" and "Lambda proxy integrations in API
Gateway" (REST) in the API Gateway developer guide, plus what people measured against real AWS where
the guide is silent.

Request bodies:
- 2.0: a UTF-8 string only for `text/*`, `application/json`, `application/xml` and
  `application/javascript` (as real HTTP APIs do); anything else, including no Content-Type and
  `application/x-www-form-urlencoded`, is base64 with `isBase64Encoded: true`.
- 1.0: a REST API without BinaryMediaTypes passes every body as text; bytes that are not UTF-8 (which
  AWS would mangle) are sent base64 here instead.
Response bodies with `isBase64Encoded: true` are decoded for both formats. Differs from AWS: a REST API
without BinaryMediaTypes would send the base64 text itself.

Values AWS fills from its own infrastructure are local stand-ins: `apiId` "local", `domainName` the
Host header without port, `requestId` a random id (also sent back as `apigw-requestid`, as HTTP APIs
do), `stage` "$default" (2.0) and "Prod" (1.0, SAM's implicit REST API stage).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from infra.template.models import ApiKind

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")
REST_STAGE = "Prod"


def _request_id() -> str:
    """An id for API Gateway's requestId, from `random`: not a secret, and os.urandom is a syscall."""
    return base64.urlsafe_b64encode(random.getrandbits(96).to_bytes(12, "big")).decode()


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as the server received it (raw path and query, headers in arrival order)."""

    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"
    request_id: str = field(default_factory=_request_id)
    epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        return self._first_values.get(name.lower())

    @cached_property
    def _first_values(self) -> dict[str, str]:
        """Lower-case name -> first value, built once per request (several headers are looked up)."""
        first: dict[str, str] = {}
        for name, value in self.headers:
            first.setdefault(name.lower(), value)
        return first


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedResponse(ValueError):
    """The function answered, but not in a shape API Gateway can turn into an HTTP response."""


# ---- requests ---------------------------------------------------------------------------------


def build_event(
    kind: ApiKind,
    request: HttpRequest,
    route_key: str,
    resource: str,
    path_parameters: Mapping[str, str],
    account_id: str,
) -> dict[str, Any]:
    """The event API Gateway would hand the function for this request and matched route."""
    if kind == "HttpApi":
        return _event_v2(request, route_key, path_parameters, account_id)
    return _event_v1(request, resource, path_parameters, account_id)


def _event_v2(
    request: HttpRequest, route_key: str, path_parameters: Mapping[str, str], account_id: str
) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _with_forwarded(request):
        lower = name.lower()
        if lower == "cookie":  # 2.0 moves cookies out of the headers into their own list
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    domain = _domain(request)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    # AWS leaves out cookies, queryStringParameters, pathParameters and body when there are none.
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": _clf_time(request.epoch_ms),
        "timeEpoch": request.epoch_ms,
    }
    if request.body:
        event["body"], event["isBase64Encoded"] = _body_v2(request)
    else:
        event["isBase64Encoded"] = False
    return event


def _event_v1(
    request: HttpRequest, resource: str, path_parameters: Mapping[str, str], account_id: str
) -> dict[str, Any]:
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in _with_forwarded(request):
        headers[name] = value  # REST keeps the header's case; `headers` holds the last value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    domain = _domain(request)
    body: str | None = None
    is_base64 = False
    if request.body:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(request.body).decode(), True
    return {
        "resource": resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "extendedRequestId": request.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": request.header("user-agent"),
                "userArn": None,
            },
            "path": f"/{REST_STAGE}{request.raw_path}",
            "protocol": request.protocol,
            "requestId": request.request_id,
            "requestTime": _clf_time(request.epoch_ms),
            "requestTimeEpoch": request.epoch_ms,
            "resourceId": "local",
            "resourcePath": resource,
            "stage": REST_STAGE,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _with_forwarded(request: HttpRequest) -> list[tuple[str, str]]:
    """The request's headers plus the X-Forwarded-* ones API Gateway adds in front of the function."""
    present = {name.lower() for name, _ in request.headers}
    extra = [
        ("X-Forwarded-For", request.source_ip),
        ("X-Forwarded-Port", str(request.server_port)),
        ("X-Forwarded-Proto", "http"),
    ]
    return request.headers + [(k, v) for k, v in extra if k.lower() not in present]


def _body_v2(request: HttpRequest) -> tuple[str, bool]:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type.startswith("text/") or content_type in _TEXT_TYPES:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _domain(request: HttpRequest) -> str:
    host = request.header("host") or "localhost"
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


def _clf_time(epoch_ms: int) -> str:
    """API Gateway's request time, e.g. "12/Mar/2020:19:03:58 +0000"."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


# ---- responses --------------------------------------------------------------------------------


def build_response(kind: ApiKind, payload: Any) -> HttpResponse:
    """Turn what the function returned into the HTTP response; MalformedResponse if impossible."""
    if kind == "HttpApi" and not (isinstance(payload, dict) and "statusCode" in payload):
        # 2.0 without a statusCode: 200, JSON, the payload itself as the body (a string as is).
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return HttpResponse(200, [("Content-Type", "application/json")], body.encode())
    if not isinstance(payload, dict):
        raise MalformedResponse(f"expected an object with statusCode, got {type(payload).__name__}")
    if "statusCode" not in payload:
        raise MalformedResponse("statusCode is missing")
    status = _status(payload["statusCode"])
    headers: dict[str, list[str]] = {}
    for name, value in _mapping(payload, "headers").items():
        headers[_header_name(name)] = [_header_value(name, value)]
    if kind == "Api":
        # 1.0: multiValueHeaders win over headers for the same name.
        for name, values in _mapping(payload, "multiValueHeaders").items():
            if not isinstance(values, list):
                raise MalformedResponse(f"multiValueHeaders[{name!r}] must be a list")
            headers[_header_name(name)] = [_header_value(name, v) for v in values]
    pairs = [(name, value) for name, values in headers.items() for value in values]
    if kind == "HttpApi":
        cookies = payload.get("cookies") or []
        if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
            raise MalformedResponse("cookies must be a list of strings")
        pairs += [("Set-Cookie", cookie) for cookie in cookies]
    return HttpResponse(status, pairs, _body(payload))


def _status(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise MalformedResponse(f"invalid statusCode {value!r}")
    return value


def _mapping(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key) or {}
    if not isinstance(value, dict):
        raise MalformedResponse(f"{key} must be an object")
    return value


def _header_name(name: str) -> str:
    if not name or any(c in name for c in " :\r\n"):
        raise MalformedResponse(f"invalid header name {name!r}")
    return name


def _header_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        if "\n" in text or "\r" in text:
            raise MalformedResponse(f"header {name!r} contains a line break")
        return text
    raise MalformedResponse(f"header {name!r} must be a string, number or boolean")


def _body(payload: dict[str, Any]) -> bytes:
    body = payload.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    if payload.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise MalformedResponse(f"isBase64Encoded is true but body is not base64: {exc}") from exc
    return body.encode()
