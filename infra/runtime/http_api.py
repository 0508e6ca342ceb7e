"""`HttpApiServer`: serve a template's HttpApi and Api (REST) routes locally, as API Gateway would.

Routes are matched like API Gateway (http_routes.py). Requests become payload format 2.0 events (HttpApi) or 1.0 events (Api), see http_payload.py.

Errors, chosen to match what API Gateway answers (JSON bodies):
- function raised, timed out (its own Timeout), crashed, or returned something unusable: HttpApi
  500 {"message":"Internal Server Error"}; Api 502 {"message":"Internal server error"}.
- still running at the integration timeout (30 s HttpApi, 29 s Api, AWS's maximums; see
  `integration_timeout_s`): HttpApi 503 {"message":"Service Unavailable"}; Api 504
  {"message":"Endpoint request timed out"}. The invocation itself goes on, as it does in Lambda.
- body over 10 MB (API Gateway's payload limit): 413 {"message":"Request Entity Too Large"}.

Differs from AWS:
- Unknown path: 404 {"message":"Not Found"} for both kinds (a REST API answers 403 "Missing
  Authentication Token"). A known path with another method: 405 {"message":"Method Not Allowed"} and
  an `Allow` header, which says more to a client; AWS answers 404 (HTTP API) / 403 (REST) since routes are
  method + path. `$default`, when present, still takes every unmatched request, as in AWS.
- HttpApi and Api routes share one server (one port), like `sam local start-api`; there are no stage
  prefixes in the URL, no CORS, throttling or custom domains. HttpApi JWT and Lambda (2.0, simple
  responses) authorizers are enforced (authorizers.py); other Auth settings are refused at start-up
  unless `--no-auth`, and then the route's status says it is not enforced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.runtime.authorizers import Authorizers
from infra.runtime.http_payload import (
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    build_event,
    build_response,
)
from infra.runtime.http_routes import RouteTable
from infra.runtime.invoker import InvocationResult, Invoker
from infra.template.models import HttpApiEventSpec

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
_DISCARD_LIMIT = 64 * 1024 * 1024  # past this, a too-large body is not even read before the 413
INTEGRATION_TIMEOUT_S = {"HttpApi": 30.0, "Api": 29.0}
ExtraRoute = Callable[[], tuple[int, dict[str, Any]]]


class PortInUseError(RuntimeError):
    pass


# ---- server -----------------------------------------------------------------------------------


class HttpApiServer:
    """Serves the routes on host:port in a background thread; also an EventSource ("HttpApi")."""

    def __init__(
        self,
        routes: list[HttpApiEventSpec],
        invoker: Invoker,
        host: str = "127.0.0.1",
        port: int = 3000,
        extra_routes: dict[str, ExtraRoute] | None = None,
        *,
        account_id: str = "123456789012",
        integration_timeout_s: float | None = None,
        authorizers: Authorizers | None = None,
    ) -> None:
        """`authorizers` enforces the routes' Auth (authorizers.py); without it, a route with an
        authorizer is refused here, so a protected route is never served open by mistake."""
        guarded = [r for r in routes if r.auth is not None and r.auth.kind != "unenforced"]
        if guarded and authorizers is None:
            raise ValueError(f"routes with authorizers need an Authorizers: {[r.path for r in guarded]}")
        self._authorizers = authorizers
        self._table = RouteTable(routes)
        self._invoker = invoker
        self._host = host
        self._port = port
        self._extra_routes = dict(extra_routes or {})
        self._account_id = account_id
        self._integration_timeout_s = integration_timeout_s
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._state = "created"
        self._lock = threading.Lock()
        self._route_counts: Counter[str] = Counter()
        self._status_counts: Counter[int] = Counter()

    # EventSource
    @property
    def name(self) -> str:
        return "HttpApi"

    def start(self) -> None:
        try:
            server = _Server((self._host, self._port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"cannot serve the HTTP API on {self._host}:{self._port}: the port is already in use "
                    f"(choose another one with --port)"
                ) from exc
            raise
        server.app = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="surge-http-api", daemon=True)
        self._thread.start()
        self._state = "listening"

    def ready(self) -> bool:
        return self._state == "listening"

    def status(self) -> dict[str, Any]:
        with self._lock:
            routes = {
                route.key: {
                    "function": route.spec.function_logical_id,
                    "kind": route.spec.api_kind,
                    "auth": _auth_label(route.spec),
                    "requests": self._route_counts[route.key],
                }
                for route in [*self._table.routes, *filter(None, [self._table.default])]
            }
            codes = {str(code): n for code, n in sorted(self._status_counts.items())}
        return {
            "type": "HttpApi",
            "state": self._state,
            "url": self.url,
            "requests": sum(self._status_counts.values()),
            "routes": routes,
            "status_codes": codes,
        }

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._state = "stopped"

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # Requests
    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request; never raises (a failure of ours is a 500 and a log line)."""
        try:
            response = self._dispatch(request)
        except Exception:
            log.exception("HTTP API: %s %s failed inside surge", request.method, request.raw_path)
            response = json_response(500, {"message": "Internal Server Error"})
        with self._lock:
            self._status_counts[response.status] += 1
        return response

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        extra = self._extra_routes.get(request.raw_path)
        if extra is not None and request.method in ("GET", "HEAD"):
            status, body = extra()
            return json_response(status, body)
        match = self._table.resolve(request.method, request.raw_path)
        route = match.route
        if route is None:
            if match.allowed:
                response = json_response(405, {"message": "Method Not Allowed"})
                return HttpResponse(
                    405, [*response.headers, ("Allow", ", ".join(match.allowed))], response.body
                )
            return json_response(404, {"message": "Not Found"})
        with self._lock:
            self._route_counts[route.key] += 1
        kind = route.spec.api_kind
        resource = "/{proxy+}" if route.is_default else route.spec.path
        event = build_event(kind, request, route.key, resource, match.path_parameters, self._account_id)
        auth = route.spec.auth
        if auth is not None and auth.kind != "unenforced" and self._authorizers is not None:
            outcome = self._authorizers.check(auth, request, event)
            if outcome.denied is not None:
                return outcome.denied
            event["requestContext"]["authorizer"] = outcome.context
        timeout = self._integration_timeout_s or INTEGRATION_TIMEOUT_S[kind]
        result = self._invoke(route.spec.function_logical_id, event, timeout)
        if result is None:
            log.warning(
                "HTTP API: %s -> %s still running after %.1f s",
                route.key,
                route.spec.function_logical_id,
                timeout,
            )
            if kind == "HttpApi":
                return json_response(503, {"message": "Service Unavailable"})
            return json_response(504, {"message": "Endpoint request timed out"})
        if not result.ok:
            log.warning(
                "HTTP API: %s -> %s failed: %s: %s",
                route.key,
                result.function_id,
                result.error_type,
                result.error_message,
            )
            return _failure(kind)
        try:
            return build_response(kind, result.payload)
        except MalformedResponse as exc:
            log.warning(
                "HTTP API: %s -> %s returned a malformed response: %s", route.key, result.function_id, exc
            )
            return _failure(kind)

    def _invoke(self, function_id: str, event: Any, timeout: float) -> InvocationResult | None:
        """The invocation's result, or None when it outlives the integration timeout."""
        started = time.monotonic()
        within = getattr(self._invoker, "invoke_within", None)
        if within is not None:
            result: InvocationResult | None = within(function_id, event, timeout)
            if result is not None:
                return result  # it ran in this thread, sure to end in time (WorkerInvoker.invoke_within)
            timeout -= time.monotonic() - started  # it may have waited for an environment first
        box: list[InvocationResult] = []
        done = threading.Event()

        def run() -> None:
            try:
                box.append(self._invoker.invoke(function_id, event))
            except Exception as exc:  # e.g. the invoker was closed under us
                box.append(InvocationResult.failure(function_id, "", type(exc).__name__, str(exc)))
            done.set()

        # A thread of its own, so the HTTP side can give up at the integration timeout.
        threading.Thread(target=run, name=f"surge-http-{function_id}", daemon=True).start()
        return box[0] if done.wait(max(0.0, timeout)) else None


def _auth_label(spec: HttpApiEventSpec) -> str:
    auth = spec.auth
    if auth is None:
        return "none"
    if auth.kind == "unenforced":
        return f"NOT ENFORCED (--no-auth): {auth.reason}"
    return f"{auth.kind} authorizer {auth.authorizer}"


def json_response(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(body).encode())


def _failure(kind: str) -> HttpResponse:
    if kind == "HttpApi":
        return json_response(500, {"message": "Internal Server Error"})
    return json_response(502, {"message": "Internal server error"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: a load test opens hundreds of connections at once
    app: HttpApiServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake idle keep-alive connections so their threads end once the server stops."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("HTTP API: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body leave in separate writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per response on Linux loopback).
    disable_nagle_algorithm = True
    server_version = "surge"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except ValueError:  # a Content-Length or chunk size that is not a number
            self.close_connection = True
            self._send(json_response(400, {"message": "Bad Request"}), "")
            return
        if body is None:
            self.close_connection = True
            self._send(json_response(413, {"message": "Request Entity Too Large"}), "")
            return
        raw_path, _, raw_query = self.path.partition("?")
        request = HttpRequest(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=self.server.server_address[1],
            protocol=self.request_version,
        )
        self._send(self.server.app.handle(request), request.request_id)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over the limit (the rest is not read)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._discard(length)
            return None
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        """Read and drop an oversized body, so the client gets to read the 413 (up to a bound)."""
        length = min(length, _DISCARD_LIMIT)
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return
            length -= len(chunk)

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            total += size
            data = self.rfile.read(size)
            self.rfile.readline()
            if total <= MAX_BODY_BYTES:
                chunks.append(data)
            elif total > _DISCARD_LIMIT:
                return None  # stop reading; the connection is closed after the 413
        return None if total > MAX_BODY_BYTES else b"".join(chunks)

    def _send(self, response: HttpResponse, request_id: str) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in (
                    "content-length",
                    "connection",
                    "transfer-encoding",
                    "date",
                    "server",
                ):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if request_id:
                self.send_header("apigw-requestid", request_id)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("HTTP API: " + format, *args)
