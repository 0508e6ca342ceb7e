"""Stopping the runtime: every source stops at once, and one that fails does not keep others running."""

from __future__ import annotations

import threading
from typing import Any

from infra.runtime.sources import stop_together


class _Source:
    """Its stop() returns only once all the sources are stopping at the same time."""

    def __init__(self, name: str, everyone: threading.Barrier, fail: bool = False) -> None:
        self.name = name
        self.everyone = everyone
        self.fail = fail
        self.stopped = False

    def stop(self) -> None:
        self.everyone.wait(timeout=10)  # BrokenBarrierError if the others are not stopping too
        self.stopped = True
        if self.fail:
            raise RuntimeError("the broker is gone")

    def start(self) -> None: ...
    def ready(self) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        return {}


def test_sources_stop_concurrently_and_a_failing_one_is_logged_not_raised() -> None:
    everyone = threading.Barrier(5)
    sources = [_Source(f"Fn.Kafka{i}", everyone, fail=i == 2) for i in range(5)]
    lines: list[tuple[str, str]] = []

    stop_together(sources, lambda who, line: lines.append((who, line)))

    assert all(source.stopped for source in sources)  # serial stops would break the barrier
    assert lines == [("surge", "stopping Fn.Kafka2 failed: the broker is gone")]
