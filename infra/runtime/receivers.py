"""Local receivers: real HTTP endpoints standing in for the external systems a template's functions
call (`Metadata.Surge.LocalReceivers`), started by the local runtime for every parameter the user
did not override, which then points at the receiver's URL.

    Metadata:
      Surge:
        LocalReceivers:
          - Parameter: DataPlatformUrl   # a declared template parameter
            Path: /events                # what the URL ends in (default /)

A receiver takes `POST <Path>` with an `Idempotency-Key` header (400 without one), remembers every key
and counts the copies of a key it had already taken (`duplicates`). It can be told to fail: while
failing it answers 503 to everything posted to it (`refused`), which is how a test or the demo plays
an outage. Control and statistics, on the same port:

    GET  /_surge/receiver            {"received", "duplicates", "refused", "failing", "keys"?}
    POST /_surge/receiver/fail       {"seconds": 30}   (0 ends an outage)

It runs on a thread of the process that started it (the runtime's) and stops with it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.template.errors import TemplateError
from infra.template.metadata_entries import parameter_entries

CONTROL = "/_surge/receiver"


@dataclass(frozen=True)
class LocalReceiverSpec:
    parameter: str
    path: str


def declared_receivers(raw_template: Mapping[str, Any]) -> list[LocalReceiverSpec]:
    """The validated entries; TemplateError naming the entry for anything unexpected."""
    result: list[LocalReceiverSpec] = []
    for at, entry in parameter_entries(raw_template, "LocalReceivers", {"Path"}):
        path = entry.get("Path", "/")
        if not isinstance(path, str) or not path.startswith("/") or path.startswith(CONTROL):
            raise TemplateError(f"Path {path!r} must start with / and not with {CONTROL} (at {at}.Path)")
        result.append(LocalReceiverSpec(entry["Parameter"], path))
    return result


class HttpReceiver:
    def __init__(self, path: str = "/", host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = path
        self._host = host
        self._lock = threading.Lock()
        self._keys: dict[str, int] = {}  # Idempotency-Key -> copies taken
        self._refused = 0
        self._failing_until = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if urlsplit(self.path).path == CONTROL:
                    with_keys = "keys" in parse_qs(urlsplit(self.path).query, keep_blank_values=True)
                    self._answer(HTTPStatus.OK, receiver.stats(with_keys=with_keys))
                else:
                    self._answer(HTTPStatus.NOT_FOUND, {"message": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                route = urlsplit(self.path).path
                if route == f"{CONTROL}/fail":
                    try:
                        seconds = float(json.loads(body or b"{}").get("seconds", 0))
                    except (ValueError, AttributeError):
                        self._answer(HTTPStatus.BAD_REQUEST, {"message": 'body: {"seconds": <number>}'})
                        return
                    receiver.fail_for(seconds)
                    self._answer(HTTPStatus.OK, receiver.stats())
                elif route == receiver.path:
                    status, answer = receiver.take(self.headers.get("idempotency-key"))
                    self._answer(status, answer)
                else:
                    self._answer(HTTPStatus.NOT_FOUND, {"message": f"post to {receiver.path}"})

            def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="surge-receiver", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_for(self, seconds: float) -> None:
        with self._lock:
            self._failing_until = time.monotonic() + max(0.0, seconds)

    def take(self, key: str | None) -> tuple[HTTPStatus, dict[str, Any]]:
        with self._lock:
            if time.monotonic() < self._failing_until:
                self._refused += 1
                return HTTPStatus.SERVICE_UNAVAILABLE, {"message": "receiver told to fail"}
            if not key:
                return HTTPStatus.BAD_REQUEST, {"message": "header Idempotency-Key is required"}
            copies = self._keys.get(key, 0) + 1
            self._keys[key] = copies
        return HTTPStatus.OK, {"duplicate": copies > 1}

    def stats(self, with_keys: bool = False) -> dict[str, Any]:
        with self._lock:
            stats: dict[str, Any] = {
                "url": self.url,
                "received": len(self._keys),
                "duplicates": sum(copies - 1 for copies in self._keys.values()),
                "refused": self._refused,
                "failing": time.monotonic() < self._failing_until,
            }
            if with_keys:
                stats["keys"] = sorted(self._keys)
        return stats


def start_receivers(raw_template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, HttpReceiver]:
    """A started receiver per declared parameter the user did not override."""
    return {
        spec.parameter: HttpReceiver(spec.path).start()
        for spec in declared_receivers(raw_template)
        if spec.parameter not in overrides
    }
