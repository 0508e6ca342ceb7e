"""On-failure destinations of the stream sources (Kafka and DynamoDB Streams), and the envelope
their messages share (docs/event-sources.md, on-failure destinations).

- `kafka://<topic>`: one JSON message per failed record, published with the record's original key
  on the same cluster (the topic must exist; surge does not create it here).
- `arn:aws:sqs:...`, `arn:aws:sns:...`, `arn:aws:s3:::...`: nothing of AWS runs locally, so each
  message is appended as one JSON line to `<state dir>/dead-letters/<function>.<event>.jsonl`.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from infra.runtime.retry import FailedRecords

_SEND_TIMEOUT_S = 15.0

Message = tuple[bytes | None, dict[str, Any]]  # (Kafka key, JSON document)


class Destination(Protocol):
    description: str

    def send(self, messages: list[Message]) -> None:
        """Deliver every message durably, or raise (then nothing is committed past the records)."""
        ...

    def close(self) -> None: ...


class KafkaTopicDestination:
    def __init__(self, topic: str, bootstrap_servers: str) -> None:
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self.description = f"kafka://{topic}"
        self._producer: Any = None
        self._lock = threading.Lock()

    def send(self, messages: list[Message]) -> None:
        from kafka import KafkaProducer

        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap_servers, acks="all", max_block_ms=10_000
                )
            futures = [
                self._producer.send(self.topic, key=key, value=json.dumps(doc).encode())
                for key, doc in messages
            ]
            self._producer.flush(timeout=_SEND_TIMEOUT_S)
            for future in futures:
                future.get(timeout=_SEND_TIMEOUT_S)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


class FileDestination:
    """Stands in for an SQS/SNS/S3 destination: JSON lines in a local file."""

    def __init__(self, arn: str, path: Path) -> None:
        self.path = path
        self.description = f"{arn} (written locally to {path})"
        self._lock = threading.Lock()

    def send(self, messages: list[Message]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                for _, doc in messages:
                    out.write(json.dumps(doc) + "\n")

    def close(self) -> None:
        pass


def open_destination(uri: str | None, *, bootstrap_servers: str | None, file: Path) -> Destination | None:
    """The destination for `DestinationConfig.OnFailure.Destination`, or None when there is none."""
    if not uri:
        return None
    if uri.startswith("kafka://"):
        if not bootstrap_servers:
            raise ValueError(f"on-failure destination {uri} needs the Kafka bootstrap servers")
        return KafkaTopicDestination(uri.removeprefix("kafka://"), bootstrap_servers)
    if uri.startswith(("arn:aws:sqs:", "arn:aws:sns:", "arn:aws:s3:")):
        return FileDestination(uri, file)
    raise ValueError(f"unsupported on-failure destination {uri!r} (kafka://, SQS, SNS or S3 ARN)")


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def failure_envelope(failed: FailedRecords[Any], function_arn: str, condition: str) -> dict[str, Any]:
    """The part of Lambda's on-failure record that says which invocation failed and how; each
    source adds its own batch info (KafkaBatchInfo, DDBStreamBatchInfo)."""
    result = failed.result
    return {
        "requestContext": {
            "requestId": result.request_id if result else str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": failed.invoke_count,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": (result.function_error if result else None) or "Unhandled",
        },
        "version": "1.0",
        "timestamp": iso_now(),
    }
