"""`HttpConnection`: one HTTP/1.1 client connection of the local HTTP API, on an asyncio event loop.

httptools (llhttp, the parser of Node.js and uvicorn) parses; this module keeps HTTP's rules around
it: keep-alive, pipelined requests answered in order, `Expect: 100-continue`, chunked bodies, the
body size limit, an idle timeout, and the error answers. What a request means is the `Respond`
coroutine's business (http_api.py). Written on the parser directly rather than as an ASGI app under
uvicorn: ASGI lowercases header names, which REST (payload 1.0) events keep as the client sent them.

Errors answered here (JSON bodies, as API Gateway's):
- a request httptools cannot parse (bad request line, header, Content-Length or chunk): 400
  {"message":"Bad Request"}, then the connection is closed;
- a method outside GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS: 501 {"message":"Unsupported method"};
- a request target over 64 KB: 414; headers over 64 KB in all or more than 100 of them: 431 (the
  limits http.server had), then the connection is closed;
- a body over `max_body` bytes: 413 {"message":"Request Entity Too Large"}, once the body has been
  read (so the client reads the answer), or at once past `discard_limit`; the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import httptools

from infra.runtime.http_payload import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

Respond = Callable[[HttpRequest], Awaitable[HttpResponse]]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HOP_BY_HOP = frozenset({"content-length", "connection", "transfer-encoding", "date", "server"})
_REASONS = {status.value: status.phrase for status in HTTPStatus}


def json_response(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(body).encode())


BAD_REQUEST = json_response(400, {"message": "Bad Request"})
URI_TOO_LONG = json_response(414, {"message": "URI Too Long"})
HEADERS_TOO_LARGE = json_response(431, {"message": "Request Header Fields Too Large"})
MAX_TARGET_BYTES = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
UNSUPPORTED_METHOD = json_response(501, {"message": "Unsupported method"})
TOO_LARGE = json_response(413, {"message": "Request Entity Too Large"})


class _HttpDate:
    """The Date header's value, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True)
        return self._value


_DATE = _HttpDate()


class ConnectionLimits:
    def __init__(self, *, max_body: int, discard_limit: int, idle_timeout_s: float) -> None:
        self.max_body = max_body
        self.discard_limit = discard_limit  # past this, a too-large body is not even read
        self.idle_timeout_s = idle_timeout_s  # a connection idle (or stalled mid-request) this long is closed


class _Incoming:
    """The request being parsed."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.header_bytes = 0
        self.body: list[bytes] = []
        self.size = 0
        self.too_large = False


class HttpConnection(asyncio.Protocol):
    def __init__(
        self,
        respond: Respond,
        limits: ConnectionLimits,
        server_port: int,
        connections: set[HttpConnection],
    ) -> None:
        self._respond = respond
        self._limits = limits
        self._server_port = server_port
        self._connections = connections
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._incoming = _Incoming()
        # What is owed to the client, in order: requests to answer, and bytes (a 100 Continue or an
        # error answer) that must not overtake the answers before them.
        self._owed: deque[tuple[HttpRequest, bool] | tuple[bytes, bool]] = deque()
        self._answering = False
        self._closing = False
        self._last_data = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) else ""
        self._connections.add(self)
        self._last_data = asyncio.get_running_loop().time()
        self._arm_idle_timer(self._limits.idle_timeout_s)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._last_data = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:  # raised in one of the callbacks below
            refused = exc.__context__
            self._fail(refused.response if isinstance(refused, _Refused) else BAD_REQUEST)
        except httptools.HttpParserInvalidMethodError:
            self._fail(UNSUPPORTED_METHOD)
        except httptools.HttpParserError:  # includes HttpParserUpgrade: no WebSocket here, as in HTTP APIs
            self._fail(BAD_REQUEST)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    # ---- parser callbacks (httptools) -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._incoming = _Incoming()

    def on_url(self, url: bytes) -> None:
        incoming = self._incoming
        incoming.url += url
        if len(incoming.url) > MAX_TARGET_BYTES:
            raise _Refused(URI_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        incoming = self._incoming
        incoming.header_bytes += len(name) + len(value)
        if incoming.header_bytes > MAX_HEADER_BYTES or len(incoming.headers) >= MAX_HEADERS:
            raise _Refused(HEADERS_TOO_LARGE)
        incoming.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        incoming = self._incoming
        length = 0
        expects_continue = False
        for name, value in incoming.headers:
            lowered = name.lower()
            if lowered == "content-length":
                length = int(value)  # llhttp has checked it is one number
            elif lowered == "expect":
                expects_continue = value.lower() == "100-continue"
        if length > self._limits.discard_limit:
            raise _Refused(TOO_LARGE)
        incoming.too_large = length > self._limits.max_body
        if expects_continue and not incoming.too_large:
            # The client waits for this before it sends the body (curl does, for bodies over 1 KB).
            self._owe(_CONTINUE, closes=False)

    def on_body(self, body: bytes) -> None:
        incoming = self._incoming
        incoming.size += len(body)
        if incoming.size > self._limits.max_body:
            incoming.too_large = True
            incoming.body = []
            if incoming.size > self._limits.discard_limit:
                raise _Refused(TOO_LARGE)
        else:
            incoming.body.append(body)

    def on_message_complete(self) -> None:
        incoming = self._incoming
        if incoming.too_large:
            self._owe(_serialize(TOO_LARGE, "", closes=True, head_only=False), closes=True)
            return
        method = self._parser.get_method().decode("ascii")
        if method not in METHODS:
            self._owe(_serialize(UNSUPPORTED_METHOD, "", closes=True, head_only=False), closes=True)
            return
        raw_path, _, raw_query = incoming.url.decode("latin-1").partition("?")
        request = HttpRequest(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=incoming.headers,
            body=b"".join(incoming.body),
            source_ip=self._peer,
            server_port=self._server_port,
            protocol=f"HTTP/{self._parser.get_http_version()}",
        )
        self._owe(request, closes=not self._parser.should_keep_alive())

    # ---- answering ------------------------------------------------------------------------------

    def _fail(self, response: HttpResponse) -> None:
        """The request cannot be parsed (or read): answer after what is owed, then close."""
        self._owe(_serialize(response, "", closes=True, head_only=False), closes=True)
        self._closing = True  # read nothing more

    def _owe(self, item: HttpRequest | bytes, *, closes: bool) -> None:
        self._owed.append((item, closes))  # type: ignore[arg-type]
        if not self._answering:
            self._answering = True
            asyncio.get_running_loop().create_task(self._answer_owed())

    async def _answer_owed(self) -> None:
        try:
            while self._owed and self._transport is not None and not self._transport.is_closing():
                item, closes = self._owed.popleft()
                if isinstance(item, HttpRequest):
                    response = await self._respond(item)
                    data = _serialize(
                        response, item.request_id, closes=closes, head_only=item.method == "HEAD"
                    )
                    if self._transport.is_closing():
                        return  # the client went away meanwhile
                else:
                    data = item
                self._transport.write(data)
                if closes:
                    self._transport.close()
                    return
        except Exception:  # of ours: the respond coroutine answers its own errors
            log.exception("HTTP API: answering a request failed")
            if self._transport is not None:
                self._transport.close()
        finally:
            self._answering = False

    # ---- idle connections ------------------------------------------------------------------------

    def _arm_idle_timer(self, delay: float) -> None:
        self._idle_timer = asyncio.get_running_loop().call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        quiet_for = asyncio.get_running_loop().time() - self._last_data
        if self._answering or quiet_for < self._limits.idle_timeout_s:
            self._arm_idle_timer(self._limits.idle_timeout_s - (0 if self._answering else quiet_for))
            return
        self._transport.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Refused(Exception):
    """Raised in a parser callback to stop reading the request and answer `response` (past a limit)."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _serialize(response: HttpResponse, request_id: str, *, closes: bool, head_only: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}",
        "Server: surge",
        f"Date: {_DATE.now()}",
    ]
    for name, value in response.headers:
        if name.lower() not in _HOP_BY_HOP:
            lines.append(f"{name}: {value}")  # build_response refused names and values with line breaks
    lines.append(f"Content-Length: {len(response.body)}")
    if request_id:
        lines.append(f"apigw-requestid: {request_id}")
    if closes:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
    return head if head_only else head + response.body
