"""Work-arounds for kafka-python 3.0 joining a consumer group before its metadata has the topic.

Seen with kafka-python 3.0.12: a group leader that assigned before its metadata had the topic's
partitions assigns nothing and never rejoins. The Kafka source waits for the topic's partition
leaders before it joins (`await_topic_leaders`) and rejoins when it is left without partitions
(`EmptyAssignmentRejoiner`). compat.py has the pause/resume work-around.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kafka.admin import KafkaAdminClient

from infra.runtime.retry import Counters

METADATA_WAIT_S = 10.0  # for the topic's partitions before joining the group anyway
EMPTY_REJOIN_S = 3.0
MAX_EMPTY_REJOINS = 5
_UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION error code
_MISSING_TOPIC_RECHECK_S = 1.0


class TopicProbe:
    """Asks the broker, through an admin client, whether it has the topic and serves its partitions."""

    def __init__(self, bootstrap_servers: str, topic: str, consumer_config: dict[str, Any]) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.consumer_config = consumer_config

    def has_leaders(self) -> bool:
        return self.state()[1]

    def state(self) -> tuple[bool, bool]:
        """(the broker knows the topic, and serves all its partitions)."""
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, **_admin_config(self.consumer_config)
        )
        try:
            (topic,) = admin.describe_topics([self.topic])
        finally:
            admin.close()
        partitions = topic.get("partitions") or []
        if topic.get("error_code") == _UNKNOWN_TOPIC:
            return False, False
        served = (
            topic.get("error_code") == 0 and bool(partitions) and all(p["leader_id"] >= 0 for p in partitions)
        )
        return True, served


def await_topic_leaders(
    probe: TopicProbe,
    *,
    needed_by: str,
    stop: threading.Event,
    counters: Counters,
    set_problem: Callable[[str | None], None],
) -> None:
    """Wait until the broker serves the topic's partitions, so the group leader's metadata has them.

    `EmptyAssignmentRejoiner` is for when it does not. A topic the broker does not have is waited for
    as long as it takes (the broker never creates topics on its own), with the reason handed to
    `set_problem` (status and health say it); one that exists but still lacks partition leaders after
    `METADATA_WAIT_S` is joined anyway, and said in status.
    """
    deadline = time.monotonic() + METADATA_WAIT_S
    while not stop.is_set():
        exists, served = probe.state()
        if served:
            set_problem(None)
            return
        if not exists:
            set_problem(
                f"topic {probe.topic} does not exist (needed by {needed_by}); create it, or "
                "declare it under Metadata.Surge.KafkaTopics so that the runtime creates it"
            )
            deadline = time.monotonic() + METADATA_WAIT_S
            stop.wait(_MISSING_TOPIC_RECHECK_S)
            continue
        if time.monotonic() >= deadline:
            counters.error("UnknownTopic", f"topic {probe.topic} has no partitions with a leader")
            set_problem(None)
            return
        stop.wait(0.1)


class EmptyAssignmentRejoiner:
    """Rejoin when left without partitions: a leader that lacked the topic's metadata never rejoins.

    `check` rejoins when this member has had no partitions for `EMPTY_REJOIN_S` while the topic has
    some. A member of a group with more members than partitions is idle by right; it rejoins at most
    `MAX_EMPTY_REJOINS` times, harmlessly. Poll thread only.
    """

    def __init__(self, probe: TopicProbe, counters: Counters, rejoin: Callable[[], None]) -> None:
        self.probe = probe
        self.counters = counters
        self.rejoin = rejoin
        self.empty_since: float | None = None  # joined with no partitions since
        self.rejoins = 0

    def assigned(self, tps: list[Any]) -> None:
        self.empty_since = None if tps else (self.empty_since or time.monotonic())

    def check(self) -> None:
        since = self.empty_since
        if since is None or time.monotonic() - since < EMPTY_REJOIN_S or self.rejoins >= MAX_EMPTY_REJOINS:
            return
        self.empty_since = time.monotonic()
        if not self.probe.has_leaders():
            return
        self.rejoins += 1
        self.counters.error("EmptyAssignment", f"no partitions assigned; rejoining ({self.rejoins})")
        self.rejoin()


def _admin_config(consumer_config: dict[str, Any]) -> dict[str, Any]:
    """The connection settings (security, SASL, SSL) the consumer uses, for the admin client."""
    keys = (
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "ssl_context",
    )
    return {key: consumer_config[key] for key in keys if key in consumer_config}
