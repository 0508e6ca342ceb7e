"""`LambdaInvoker`: the runtime's `Invoker` for functions deployed on a Lambda endpoint (the emulator,
LocalStack, AWS), so surge's own event sources and HTTP server drive deployed code unchanged."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.localstack.deploy import aws_env
from infra.runtime.invoker import InvocationResult
from infra.runtime.kafka.events import KafkaBatch

SERVICE_ERROR = "Lambda.ServiceException"
# In-flight invocations per function. ministack starts a new worker process (a cold start of seconds
# on a small machine) for every invocation beyond its warm ones, so an unbounded burst would spend
# itself on cold starts; a few warm workers per function serve it faster (like reserved concurrency).
DEFAULT_CONCURRENCY = 4


class LambdaInvoker:
    def __init__(
        self, endpoint: str, function_names: Mapping[str, str], *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> None:
        """`function_names`: template logical id -> deployed function name (the stack's resources)."""
        self.function_names = dict(function_names)
        self._slots: defaultdict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(concurrency)
        )
        max_connections = concurrency * max(1, len(self.function_names))
        env = aws_env(endpoint)
        self._client = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            region_name=env["AWS_REGION"],
        ).client(
            "lambda",
            endpoint_url=endpoint,
            # a function may run up to its Timeout (60 s for the consumers); the Invoke call waits for it
            config=Config(
                read_timeout=900,
                connect_timeout=5,
                max_pool_connections=max_connections,
                retries={"max_attempts": 0},
            ),
        )

    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        started = time.monotonic()
        # The local sources hand over a deferred Kafka batch (events.py); here the payload is built in-process.
        payload = event.to_event() if isinstance(event, KafkaBatch) else event
        name = self.function_names.get(function_id)
        if name is None:
            return InvocationResult.failure(
                function_id, "", SERVICE_ERROR, f"{function_id} is not a function of the deployed stack"
            )
        try:
            with self._slots[function_id]:
                response = self._client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
                body = response["Payload"].read()
        except (BotoCoreError, ClientError) as exc:
            return InvocationResult.failure(
                function_id, "", SERVICE_ERROR, f"{type(exc).__name__}: {exc}", _ms(started)
            )
        request_id = response.get("ResponseMetadata", {}).get("RequestId") or str(uuid.uuid4())
        try:
            result = json.loads(body) if body else None
        except ValueError:
            result = body.decode(errors="replace")
        if response.get("FunctionError"):
            error = result if isinstance(result, dict) else {}
            return InvocationResult.failure(
                function_id,
                request_id,
                str(error.get("errorType") or "Unhandled"),
                str(error.get("errorMessage") or result),
                _ms(started),
            )
        return InvocationResult(function_id, request_id, True, result, duration_ms=_ms(started))

    def close(self) -> None:
        self._client.close()


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
