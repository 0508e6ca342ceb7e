"""LambdaInvoker: payloads and outcomes of the Lambda Invoke API as the runtime's InvocationResult."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from infra.localstack.lambda_invoker import SERVICE_ERROR, LambdaInvoker
from infra.runtime.kafka.events import KafkaBatch


class FakeLambda:
    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {**self.response, "Payload": io.BytesIO(self.response["Payload"])}

    def close(self) -> None:
        pass


def invoker(response: dict[str, Any]) -> tuple[LambdaInvoker, FakeLambda]:
    fake = FakeLambda(response)
    target = LambdaInvoker("http://127.0.0.1:1", {"Fn": "stack-Fn-ABC"})
    target._client = fake
    return target, fake


def test_a_kafka_batch_is_sent_as_the_lambda_kafka_event_to_the_deployed_name() -> None:
    target, fake = invoker({"Payload": b'{"batchItemFailures": []}', "ResponseMetadata": {"RequestId": "r1"}})
    batch = KafkaBatch("SelfManagedKafka", "k:9092", None, "t", 0, [(5, 1, 0, b"k", b"v", [("h", b"x")])])
    result = target.invoke("Fn", batch)
    assert result.ok and result.payload == {"batchItemFailures": []} and result.request_id == "r1"
    assert fake.calls[0]["FunctionName"] == "stack-Fn-ABC"
    event = json.loads(fake.calls[0]["Payload"])
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["records"]["t-0"][0]["offset"] == 5 and event["records"]["t-0"][0]["value"] == "dg=="


def test_a_function_error_is_a_failed_invocation_with_its_type_and_message() -> None:
    body = json.dumps({"errorType": "ValueError", "errorMessage": "boom"}).encode()
    target, _ = invoker({"Payload": body, "FunctionError": "Unhandled"})
    result = target.invoke("Fn", {"x": 1})
    assert not result.ok and result.error_type == "ValueError" and result.error_message == "boom"


@pytest.mark.parametrize("function_id", ["Unknown"])
def test_a_function_missing_from_the_stack_is_a_service_error(function_id: str) -> None:
    target, fake = invoker({"Payload": b"null"})
    result = target.invoke(function_id, {})
    assert not result.ok and result.error_type == SERVICE_ERROR and fake.calls == []


def test_an_unreachable_endpoint_is_a_failed_invocation_not_an_exception() -> None:
    result = LambdaInvoker("http://127.0.0.1:9", {"Fn": "f"}).invoke("Fn", {})
    assert not result.ok and result.error_type == SERVICE_ERROR
