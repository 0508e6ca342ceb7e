"""Every Kafka event source of template.yaml has a dead-letter topic `<topic>.dlt`, declared with the
topics, so `surge dlt` and the operators find its failed records. New capabilities are checked too:
the test reads the template, not a list."""

from __future__ import annotations

from pathlib import Path

from infra.dlt.catalog import dead_letter_topics
from infra.template import SamTemplate, load_template
from tests.conftest import TEMPLATE


def missing_dead_letter_topics(template: SamTemplate) -> list[str]:
    """One line per Kafka event source without a declared `kafka://<topic>.dlt` destination."""
    declared = {topic.name for topic in template.topics}
    problems = []
    for event in template.kafka_events():
        where = f"{event.function_logical_id}.{event.name} ({event.topic})"
        expected = f"kafka://{event.topic}.dlt"
        if event.on_failure_destination != expected:
            problems.append(
                f"{where}: on-failure destination {event.on_failure_destination!r}, expected {expected!r}"
            )
        elif f"{event.topic}.dlt" not in declared:
            problems.append(f"{where}: {event.topic}.dlt is not in Metadata.Surge.KafkaTopics")
    return problems


def test_every_kafka_event_source_has_a_declared_dlt() -> None:
    template = load_template(TEMPLATE)
    assert template.kafka_events(), "template.yaml has no Kafka event sources: nothing was checked"
    assert missing_dead_letter_topics(template) == []
    assert set(dead_letter_topics(template)) == {f"{e.topic}.dlt" for e in template.kafka_events()}


def test_the_check_names_a_source_without_one(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    # The coupon issuer loses its destination, and its DLT disappears from the topics.
    broken = text.replace("Destination: kafka://coupon.issue-requested.dlt", "Destination: kafka://elsewhere")
    undeclared = text.replace("- Name: coupon.issue-requested.dlt", "- Name: coupon.issue-requested.old-dlt")
    assert broken != text and undeclared != text
    (tmp_path / "broken.yaml").write_text(broken)
    (tmp_path / "undeclared.yaml").write_text(undeclared)
    [problem] = missing_dead_letter_topics(load_template(tmp_path / "broken.yaml"))
    assert "CouponIssuerFunction.IssueRequests" in problem and "kafka://elsewhere" in problem
    [problem] = missing_dead_letter_topics(load_template(tmp_path / "undeclared.yaml"))
    assert "not in Metadata.Surge.KafkaTopics" in problem
