"""`HttpApiServer`: serve a template's HttpApi and Api (REST) routes locally, as API Gateway would.

Connections are served on an asyncio event loop (http_connection.py): the invoker's own loop when it
has one (WorkerInvoker), so a request is parsed, dispatched to an execution environment and answered
without passing between threads; else a loop of the server's own, calling the invoker in threads.
Authorizers and the extra routes (health, status) may block, so they run in threads too.

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

import asyncio
import errno
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from infra.runtime.authorizers import Authorizers
from infra.runtime.http_connection import ConnectionLimits, HttpConnection, json_response
from infra.runtime.http_payload import (
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    build_event,
    build_response,
)
from infra.runtime.http_routes import RouteTable
from infra.runtime.invoker import AsyncInvoker, InvocationResult, Invoker
from infra.runtime.loop import LoopThread
from infra.template.models import HttpApiEventSpec

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
_DISCARD_LIMIT = 64 * 1024 * 1024  # past this, a too-large body is not even read before the 413
IDLE_TIMEOUT_S = 120.0  # an idle keep-alive connection is closed after this many seconds
_BLOCKING_THREADS = 64  # authorizers, extra routes, and invocations through a blocking invoker
INTEGRATION_TIMEOUT_S = {"HttpApi": 30.0, "Api": 29.0}
ExtraRoute = Callable[[], tuple[int, dict[str, Any]]]

__all__ = ["HttpApiServer", "PortInUseError", "json_response"]


class PortInUseError(RuntimeError):
    pass


# ---- server -----------------------------------------------------------------------------------


class HttpApiServer:
    """Serves the routes on host:port on an event loop; also an EventSource ("HttpApi")."""

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
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        """`authorizers` enforces the routes' Auth (authorizers.py); without it, a route with an
        authorizer is refused here, so a protected route is never served open by mistake."""
        guarded = [r for r in routes if r.auth is not None and r.auth.kind != "unenforced"]
        if guarded and authorizers is None:
            raise ValueError(f"routes with authorizers need an Authorizers: {[r.path for r in guarded]}")
        self._authorizers = authorizers
        self._table = RouteTable(routes)
        self._invoker = invoker
        # Checked once: isinstance against a runtime-checkable Protocol costs ~50 µs.
        self._async_invoker = invoker if isinstance(invoker, AsyncInvoker) else None
        self._host = host
        self._port = port
        self._extra_routes = dict(extra_routes or {})
        self._account_id = account_id
        self._integration_timeout_s = integration_timeout_s
        self._limits = ConnectionLimits(
            max_body=MAX_BODY_BYTES, discard_limit=_DISCARD_LIMIT, idle_timeout_s=idle_timeout_s
        )
        self._own_loop: LoopThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._blocking: ThreadPoolExecutor | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[HttpConnection] = set()
        self._state = "created"
        self._lock = threading.Lock()  # the counters: updated on the loop, read by status() anywhere
        self._route_counts: Counter[str] = Counter()
        self._status_counts: Counter[int] = Counter()

    # EventSource
    @property
    def name(self) -> str:
        return "HttpApi"

    def start(self) -> None:
        listener = _listen(self._host, self._port)
        self._port = listener.getsockname()[1]
        if self._async_invoker is not None:
            self._loop = self._async_invoker.loop
        else:
            self._own_loop = LoopThread("surge-http-api")
            self._loop = self._own_loop.loop
        self._blocking = ThreadPoolExecutor(_BLOCKING_THREADS, thread_name_prefix="surge-http")

        def connection() -> HttpConnection:
            return HttpConnection(self.respond, self._limits, self._port, self._connections)

        async def serve() -> asyncio.AbstractServer:
            return await asyncio.get_running_loop().create_server(connection, sock=listener)

        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result()
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
        """Stop listening and close every connection; requests in flight get no answer."""
        server, self._server = self._server, None
        if server is None or self._loop is None:
            return

        async def close() -> None:
            server.close()
            for connection in list(self._connections):
                connection.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result()
        if self._blocking is not None:
            self._blocking.shutdown(wait=False, cancel_futures=True)
        if self._own_loop is not None:
            self._own_loop.stop()
        self._state = "stopped"

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # Requests
    async def respond(self, request: HttpRequest) -> HttpResponse:
        """Answer one request; never raises (a failure of ours is a 500 and a log line)."""
        try:
            response = await self._dispatch(request)
        except Exception:
            log.exception("HTTP API: %s %s failed inside surge", request.method, request.raw_path)
            response = json_response(500, {"message": "Internal Server Error"})
        with self._lock:
            self._status_counts[response.status] += 1
        return response

    async def _dispatch(self, request: HttpRequest) -> HttpResponse:
        loop = asyncio.get_running_loop()
        extra = self._extra_routes.get(request.raw_path)
        if extra is not None and request.method in ("GET", "HEAD"):
            status, body = await loop.run_in_executor(self._blocking, extra)
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
            outcome = await loop.run_in_executor(
                self._blocking, self._authorizers.check, auth, request, event
            )
            if outcome.denied is not None:
                return outcome.denied
            event["requestContext"]["authorizer"] = outcome.context
        timeout = self._integration_timeout_s or INTEGRATION_TIMEOUT_S[kind]
        result = await self._invoke(route.spec.function_logical_id, event, timeout)
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

    async def _invoke(self, function_id: str, event: Any, timeout: float) -> InvocationResult | None:
        """The invocation's result, or None when it outlives the integration timeout (it goes on, as
        in Lambda; waiting for an environment counts toward the timeout)."""
        loop = asyncio.get_running_loop()
        running: asyncio.Future[InvocationResult]
        if self._async_invoker is not None:
            running = loop.create_task(self._async_invoker.invoke_async(function_id, event))
        else:
            running = loop.run_in_executor(self._blocking, self._invoker.invoke, function_id, event)
        # asyncio.wait(timeout=) does the same at about four times the cost, on every request.
        settled: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(timeout, _settle, settled)
        running.add_done_callback(lambda _: _settle(settled))
        await settled
        timer.cancel()
        if not running.done():
            running.add_done_callback(_settled_unheard)
            return None
        try:
            return running.result()
        except Exception as exc:  # e.g. the invoker was closed under us
            return InvocationResult.failure(function_id, "", type(exc).__name__, str(exc))


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is a clear error at start."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"cannot serve the HTTP API on {host}:{port}: the port is already in use "
                f"(choose another one with --port)"
            ) from exc
        raise
    listener.listen(1024)  # a load test opens hundreds of connections at once
    listener.setblocking(False)
    return listener


def _settle(settled: asyncio.Future[None]) -> None:
    if not settled.done():
        settled.set_result(None)


def _settled_unheard(running: asyncio.Future[InvocationResult]) -> None:
    """An invocation that ended after its 503: its outcome was logged by the invoker's REPORT line;
    an exception is retrieved here so asyncio does not report it as never retrieved."""
    if not running.cancelled():
        running.exception()


def _auth_label(spec: HttpApiEventSpec) -> str:
    auth = spec.auth
    if auth is None:
        return "none"
    if auth.kind == "unenforced":
        return f"NOT ENFORCED (--no-auth): {auth.reason}"
    return f"{auth.kind} authorizer {auth.authorizer}"


def _failure(kind: str) -> HttpResponse:
    if kind == "HttpApi":
        return json_response(500, {"message": "Internal Server Error"})
    return json_response(502, {"message": "Internal server error"})
