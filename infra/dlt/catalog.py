"""The template's dead-letter topics: every `kafka://` on-failure destination of a Kafka event source."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from infra.stack.errors import StackError
from infra.template import KafkaEventSpec, SamTemplate, load_template

KAFKA_DESTINATION = "kafka://"


@dataclass(frozen=True)
class DltSource:
    """An event source whose failed records go to the DLT."""

    function_id: str
    event_name: str
    topic: str

    @property
    def name(self) -> str:
        return f"{self.function_id}.{self.event_name}"


@dataclass(frozen=True)
class DeadLetterTopic:
    topic: str
    sources: list[DltSource] = field(default_factory=list)
    declared: bool = False  # listed in Metadata.Surge.KafkaTopics


def kafka_destination_topic(event: KafkaEventSpec) -> str | None:
    destination = event.on_failure_destination or ""
    return destination.removeprefix(KAFKA_DESTINATION) if destination.startswith(KAFKA_DESTINATION) else None


def dead_letter_topics(template: SamTemplate) -> dict[str, DeadLetterTopic]:
    """DLT name -> its event sources, in template order."""
    declared = {topic.name for topic in template.topics}
    found: dict[str, DeadLetterTopic] = {}
    for event in template.kafka_events():
        topic = kafka_destination_topic(event)
        if topic is None:
            continue
        dlt = found.setdefault(topic, DeadLetterTopic(topic, [], topic in declared))
        dlt.sources.append(DltSource(event.function_logical_id, event.name, event.topic))
    return found


def load_dead_letter_topics(template_path: Path) -> dict[str, DeadLetterTopic]:
    if not template_path.exists():
        raise StackError(f"template {template_path} not found (use --template PATH)")
    return dead_letter_topics(load_template(template_path))


def find_dead_letter_topic(template_path: Path, topic: str) -> DeadLetterTopic:
    topics = load_dead_letter_topics(template_path)
    if topic not in topics:
        known = ", ".join(sorted(topics)) or "none"
        raise StackError(
            f"{topic} is not a dead-letter topic of {template_path} (its kafka:// on-failure destinations: {known})"
        )
    return topics[topic]
