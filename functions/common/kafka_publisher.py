"""A Kafka producer reused across Lambda invocations; `publish` returns only after the broker acked,
`publish_all` (the outbox relay's batches) after every record of the batch was acked or failed.

The producer is idempotent with acks=all, so a retried send never duplicates a record and an ack means
the record is on every in-sync replica. Timeouts are short on purpose: an API caller waiting on an
unavailable broker should get a 503 within a few seconds, not hang until the function times out.
Credentials (SASL from Secrets Manager on AWS, none locally) come from common/kafka_auth.py.

confluent-kafka (librdkafka) rather than kafka-python: every publish here waits for its own ack, and a
serial send+ack costs 0.27 ms of wall and 0.09 ms of CPU with it against 0.87 ms and 0.67 ms with
kafka-python on the same broker (README, "The accept path").
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from common.config import Endpoints
from common.kafka_auth import producer_auth_options
from common.ports import Outgoing

Headers = Sequence[tuple[str, bytes]]

# Upper bound on how long one publish may take end to end (connect + metadata + ack).
_CONNECT_TIMEOUT_MS = 3_000
_REQUEST_TIMEOUT_MS = 3_000
_MESSAGE_TIMEOUT_MS = 5_000  # librdkafka fails the delivery after this, retries included
_ACK_WAIT_S = 6.0  # a little longer, so the delivery report (with its reason) normally comes first
_POLL_SLICE_S = 0.1  # another thread's poll may serve our report; look again at least this often

# librdkafka's own log lines (broker down, retries) go through Python logging, not raw stderr.
_librdkafka_log = logging.getLogger("surge.kafka.producer")


class PublishError(Exception):
    """The record was not acknowledged by the broker; the caller must not assume it was stored."""


class DeliveryFailed(RuntimeError):
    """librdkafka reported the record as not delivered (its error says why)."""


class _Delivery:
    """The delivery report of one record, filled in by librdkafka's callback during `poll`."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Any = None
        self.partition = -1
        self.offset = -1

    def __call__(self, error: Any, message: Any) -> None:
        self.error = error
        if error is None:
            self.partition, self.offset = message.partition(), message.offset()
        self.done.set()


class KafkaPublisher:
    """Lazily creates one confluent-kafka `Producer`; a failed producer is discarded and rebuilt on next use.

    `producer_options` are librdkafka configuration properties (dotted names) that override the defaults.
    """

    def __init__(self, bootstrap_servers: str | None = None, **producer_options: Any) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._options = producer_options
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                # Imported here so modules that only define ports and errors stay importable without kafka.
                from confluent_kafka import Producer

                servers = self._bootstrap_servers or Endpoints.from_env().require_kafka()
                self._producer = Producer(
                    {
                        "bootstrap.servers": servers,
                        "acks": "all",
                        "enable.idempotence": True,
                        "linger.ms": 0,  # each caller waits for its own record: send it now
                        "socket.nagle.disable": True,
                        "socket.connection.setup.timeout.ms": _CONNECT_TIMEOUT_MS,
                        "request.timeout.ms": _REQUEST_TIMEOUT_MS,
                        "message.timeout.ms": _MESSAGE_TIMEOUT_MS,
                        "logger": _librdkafka_log,
                        **producer_auth_options(),
                        **self._options,
                    }
                )
            return self._producer

    def _discard_producer(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            # Closing a broken producer must not mask the error that made us discard it.
            with contextlib.suppress(Exception):
                producer.purge()
                producer.close()

    def _send(self, records: Sequence[Outgoing]) -> tuple[list[_Delivery], Exception | None]:
        """Produce every record, then poll until each has its delivery report or the ack wait ends;
        returns the reports and what stopped the sending or the waiting, if anything did."""
        deliveries = [_Delivery() for _ in records]
        try:
            producer = self._get_producer()
            for record, delivery in zip(records, deliveries, strict=True):
                producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=delivery,
                )
            deadline = time.monotonic() + _ACK_WAIT_S
            while not all(delivery.done.is_set() for delivery in deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no delivery report within {_ACK_WAIT_S:g} s")
                producer.poll(min(remaining, _POLL_SLICE_S))
        except Exception as exc:
            return deliveries, exc
        return deliveries, None

    def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers = ()) -> tuple[int, int]:
        """Send one record and block until acknowledged; returns (partition, offset)."""
        (delivery,), cause = self._send([Outgoing(topic, key, value, headers)])
        if cause is None and delivery.error is not None:
            cause = DeliveryFailed(str(delivery.error))
        if cause is not None:
            # A producer that failed may hold a fenced/expired idempotence epoch: start fresh next time.
            self._discard_producer()
            raise PublishError(f"publish to {topic!r} failed: {type(cause).__name__}: {cause}") from cause
        return delivery.partition, delivery.offset

    def publish_all(self, records: Sequence[Outgoing]) -> list[Exception | None]:
        """Send every record, then wait for all their acks (one round trip for the lot, not one each);
        one result per record, in order, None when acknowledged. The idempotent producer writes the
        records of one partition in the order given, retries included."""
        deliveries, cause = self._send(records)
        # Records without a report count as failed; sending one again is a duplicate.
        results: list[Exception | None] = []
        for record, delivery in zip(records, deliveries, strict=True):
            if delivery.done.is_set() and delivery.error is None:
                results.append(None)
                continue
            reason = str(delivery.error) if delivery.done.is_set() else f"{type(cause).__name__}: {cause}"
            results.append(PublishError(f"publish to {record.topic!r} failed: {reason}"))
        if any(result is not None for result in results):
            self._discard_producer()  # as in publish: start fresh after a failure
        return results

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
