"""Timing a Kafka-triggered function draining a pre-filled topic through the local runtime."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kafka.admin import KafkaAdminClient

from common.config import Endpoints
from infra.runtime.app import LocalRuntime
from infra.stack.stack import provision


def drain_seconds(
    endpoints: Endpoints, template_text: str, group: str, records: int, fill: Callable[[], None]
) -> float:
    """Provision the template, `fill` its topic, then time the runtime from polling (execution
    environments already initialized, so no cold start is timed) until `group` has committed every
    record, which the event source does only after the function succeeded for it."""
    with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
        template = Path(tmp) / "template.yaml"
        template.write_text(template_text)
        provision(endpoints, template)
        fill()
        runtime = LocalRuntime(template, endpoints, port=0, state_dir=Path(tmp), log=lambda _f, _l: None)
        admin = KafkaAdminClient(bootstrap_servers=endpoints.require_kafka())
        runtime.start()
        try:
            runtime.wait_healthy()
            started = time.monotonic()
            while committed(admin, group) < records and time.monotonic() - started < 600:
                time.sleep(0.05)
            return time.monotonic() - started
        finally:
            runtime.stop()
            admin.close()


def committed(admin: KafkaAdminClient, group: str) -> int:
    """Records the group has committed, over all partitions (offsets start at 0)."""
    offsets = admin.list_group_offsets(group).get(group, {})
    return sum(max(0, meta.offset) for meta in offsets.values())
