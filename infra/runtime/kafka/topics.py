"""Waiting for the Kafka source's topic before joining its consumer group.

A source whose topic does not exist says so (status and health: `set_problem`) and waits as long as
it takes (the broker never creates topics on its own); once the topic exists, it waits until the
broker serves its partitions, so the group's first assignment has them, at most `METADATA_WAIT_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException

from infra.runtime.retry import Counters

METADATA_WAIT_S = 10.0  # for the topic's partitions to get leaders before joining the group anyway
_MISSING_TOPIC_RECHECK_S = 1.0
_METADATA_TIMEOUT_S = 5.0


TopicState = Literal["served", "missing", "leaderless", "no answer"]


def topic_state(consumer: Any, topic: str) -> TopicState:
    """What one metadata request says of the topic: its partitions all served, the topic missing,
    partitions without a leader yet, or no answer from the broker."""
    try:
        found = consumer.list_topics(topic, timeout=_METADATA_TIMEOUT_S).topics.get(topic)
    except KafkaException:
        return "no answer"
    if found is None or (found.error is not None and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        return "missing"
    partitions = found.partitions.values()
    served = (
        found.error is None
        and bool(partitions)
        and all(p.leader >= 0 and p.error is None for p in partitions)
    )
    return "served" if served else "leaderless"


def await_topic(
    consumer: Any,
    topic: str,
    *,
    needed_by: str,
    stop: threading.Event,
    counters: Counters,
    set_problem: Callable[[str | None], None],
) -> None:
    deadline = time.monotonic() + METADATA_WAIT_S
    while not stop.is_set():
        state = topic_state(consumer, topic)
        if state == "served":
            set_problem(None)
            return
        if state in ("missing", "no answer"):
            if state == "missing":
                problem = (
                    f"topic {topic} does not exist (needed by {needed_by}); create it, or "
                    "declare it under Metadata.Surge.KafkaTopics so that the runtime creates it"
                )
            else:
                problem = f"the Kafka broker did not answer a metadata request for {topic}"
            set_problem(problem)
            deadline = time.monotonic() + METADATA_WAIT_S
            stop.wait(_MISSING_TOPIC_RECHECK_S)
            continue
        if time.monotonic() >= deadline:
            counters.error("UnknownTopic", f"topic {topic} has no partitions with a leader")
            set_problem(None)
            return
        stop.wait(0.1)
