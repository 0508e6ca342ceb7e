"""Health answers 503 with the reasons while a function failed to initialize or an event source
cannot poll, and 200 only when everything serves; `surge local status` prints them. A topic that is
neither declared nor on the broker is a start-up warning naming it and its event; its source waits
and joins once the topic is created."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from kafka.admin import NewTopic

from infra.runtime.commands import format_status
from tests.conformance.conftest import HERE, RuntimeFactory
from tests.runtime.esm_helpers import wait_until

TEMPLATE = HERE / "unhealthy" / "template.yaml"


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.timeout(240)
def test_health_names_what_does_not_serve(start_runtime: RuntimeFactory, kafka_admin) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"events.{suffix}"
    runtime = start_runtime(
        TEMPLATE,
        healthy=False,
        parameter_overrides={"EventsTopic": topic, "PlainTableName": f"plain-{suffix}"},
    )
    (warning,) = [w for w in runtime.warnings if topic in w]
    assert "EventsConsumerFunction.Events" in warning and "Metadata.Surge.KafkaTopics" in warning

    def problems() -> list[str]:
        code, body = _get(runtime.url + "/_surge/health")
        assert code == 503 and body["status"] == "unhealthy"
        return body["problems"] if len(body["problems"]) == 3 else []

    found = wait_until(problems, timeout=60)
    assert any(
        p.startswith("BrokenImportFunction: init failed") and "a_module_that_is_not_installed" in p
        for p in found
    )
    assert any(
        p.startswith("EventsConsumerFunction.Events: topic " + topic + " does not exist") for p in found
    )
    assert any(p.startswith("StreamlessFunction.Changes:") and "has no stream" in p for p in found)
    printed = format_status(runtime.status())
    assert "NOT SERVING" in printed and "has no stream" in printed and "last error: RuntimeError" in printed

    # The missing topic is created: its source joins and that problem goes; the others stay.
    kafka_admin.create_topics([NewTopic(topic, 1, 1)])
    (events,) = [s for s in runtime.sources if s.name == "EventsConsumerFunction.Events"]
    wait_until(events.ready, timeout=90)
    code, body = runtime.health()
    assert code == 503 and len(body["problems"]) == 2
    assert not any(p.startswith("EventsConsumerFunction") for p in body["problems"])
