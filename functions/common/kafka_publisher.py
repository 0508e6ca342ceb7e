"""A Kafka producer reused across Lambda invocations; `publish` returns only after the broker acked.

The producer is idempotent with acks=all, so a retried send never duplicates a record and an ack means
the record is on every in-sync replica. Timeouts are short on purpose: an API caller waiting on an
unavailable broker should get a 503 within a few seconds, not hang until the function times out.
Credentials (SASL from Secrets Manager on AWS, none locally) come from common/kafka_auth.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from common.config import Endpoints
from common.kafka_auth import producer_auth_options

Headers = Sequence[tuple[str, bytes]]

# Upper bound on how long one publish may take end to end (bootstrap + metadata + ack).
_BOOTSTRAP_TIMEOUT_MS = 3_000
_MAX_BLOCK_MS = 3_000
_REQUEST_TIMEOUT_MS = 3_000
_DELIVERY_TIMEOUT_MS = 5_000  # must be >= request_timeout_ms + linger_ms
_ACK_WAIT_S = 6.0


class PublishError(Exception):
    """The record was not acknowledged by the broker; the caller must not assume it was stored."""


class KafkaPublisher:
    """Lazily creates one `KafkaProducer`; a failed producer is discarded and rebuilt on next use."""

    def __init__(self, bootstrap_servers: str | None = None, **producer_options: Any) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._options = producer_options
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                # Imported here so modules that only define ports and errors stay importable without kafka.
                from kafka import KafkaProducer

                servers = self._bootstrap_servers or Endpoints.from_env().require_kafka()
                options = {**producer_auth_options(), **self._options}
                self._producer = KafkaProducer(
                    bootstrap_servers=servers.split(","),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=0,
                    bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS,
                    max_block_ms=_MAX_BLOCK_MS,
                    request_timeout_ms=_REQUEST_TIMEOUT_MS,
                    delivery_timeout_ms=_DELIVERY_TIMEOUT_MS,
                    **options,
                )
            return self._producer

    def _discard_producer(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            # Closing a broken producer must not mask the error that made us discard it.
            with contextlib.suppress(Exception):
                producer.close(timeout=1)

    def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers = ()) -> tuple[int, int]:
        """Send one record and block until acknowledged; returns (partition, offset)."""
        try:
            future = self._get_producer().send(topic, key=key, value=value, headers=list(headers))
            metadata = future.get(timeout=_ACK_WAIT_S)
        except Exception as exc:
            # A producer that timed out may hold a fenced/expired idempotence epoch: start fresh next time.
            self._discard_producer()
            raise PublishError(f"publish to {topic!r} failed: {type(exc).__name__}: {exc}") from exc
        return int(metadata.partition), int(metadata.offset)

    def close(self) -> None:
        self._discard_producer()


_default: KafkaPublisher | None = None
_default_lock = threading.Lock()


def default_publisher() -> KafkaPublisher:
    """The process-wide publisher (module-level so Lambda reuses its connections across invocations)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = KafkaPublisher()
        return _default


def publish(topic: str, key: bytes | None, value: bytes, headers: Headers = ()) -> tuple[int, int]:
    return default_publisher().publish(topic, key, value, headers)
