"""The correlation id: taken from the HTTP request, carried in Kafka headers, logged by every consumer.

An API caller may send `x-correlation-id` (letters, digits and `._:-`, up to 128 characters; anything
else is replaced, never trusted into logs); otherwise the API Gateway request id is used. Producers put
it in the `correlation-id` header of every record; consumers log it for the records they handle.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

HTTP_HEADER = "x-correlation-id"
KAFKA_HEADER = "correlation-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def from_http_event(event: Mapping[str, Any]) -> str:
    headers = event.get("headers") or {}
    # HTTP API lowercases header names; REST API (payload 1.0) keeps the client's case.
    supplied = next((v for k, v in headers.items() if k.lower() == HTTP_HEADER), None)
    if isinstance(supplied, str) and _VALID.match(supplied):
        return supplied
    request_id = (event.get("requestContext") or {}).get("requestId")
    return request_id if isinstance(request_id, str) and request_id else str(uuid.uuid4())


def kafka_header(correlation_id: str | None) -> tuple[tuple[str, bytes], ...]:
    return ((KAFKA_HEADER, correlation_id.encode()),) if correlation_id else ()


class _HasHeaders(Protocol):
    def header(self, name: str) -> bytes | None: ...


def from_record(record: _HasHeaders) -> str | None:
    """The correlation id a Kafka record carries, if any."""
    return decode(record.header(KAFKA_HEADER))


def decode(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    return text if _VALID.match(text) else None


def distinct(ids: Iterable[str | None], limit: int = 20) -> list[str]:
    """The distinct correlation ids of a batch, for one log line (bounded: a batch may hold thousands)."""
    return list(dict.fromkeys(i for i in ids if i))[:limit]
