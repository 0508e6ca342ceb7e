"""Dead-letter counts for `surge local status`: how many messages each source's DLT holds."""

from __future__ import annotations

from typing import Any

from kafka.errors import KafkaError

from infra.dlt.catalog import KAFKA_DESTINATION
from infra.dlt.connection import KafkaConnection
from infra.dlt.reader import message_counts
from infra.stack.errors import StackError


def add_dead_letter_counts(status: dict[str, Any]) -> None:
    """Sets `dlt_messages` on every source of a runtime status whose on-failure destination is a
    kafka:// topic ("?" when Kafka cannot say); status output must not fail because of it."""
    wanted = {
        name: str(source["on_failure"]).removeprefix(KAFKA_DESTINATION)
        for name, source in status.get("sources", {}).items()
        if str(source.get("on_failure") or "").startswith(KAFKA_DESTINATION)
    }
    servers = (status.get("endpoints") or {}).get("KAFKA_BOOTSTRAP_SERVERS")
    if not wanted or not servers:
        return
    try:
        counts = message_counts(
            KafkaConnection(servers, "the local runtime"), set(wanted.values()), connect_timeout_s=3.0
        )
    except (StackError, KafkaError):
        counts = {}
    for name, topic in wanted.items():
        count = counts.get(topic)
        status["sources"][name]["dlt_messages"] = "?" if count is None else count
