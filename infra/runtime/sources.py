"""What every event source of the local runtime provides to the runtime that owns it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol


class EventSource(Protocol):
    """One event source mapping (or schedule, or API) of one function, running in its own threads."""

    @property
    def name(self) -> str:
        """ "<FunctionLogicalId>.<EventName>", as in template.yaml."""
        ...

    def start(self) -> None:
        """Begin polling/serving in background threads and return at once."""
        ...

    def ready(self) -> bool:
        """True once the source is polling (or listening); `GET /_surge/health` waits for all."""
        ...

    def status(self) -> dict[str, Any]:
        """Counters for `surge local status`: at least `type` and `state`, plus what fits the source
        (Kafka: lag per partition, batches, records, retries, dead-lettered, filtered, last_error)."""
        ...

    def stop(self) -> None:
        """Stop polling, let an in-flight invocation finish (bounded), commit nothing unfinished."""
        ...


def stop_together(sources: Sequence[EventSource], log: Callable[[str, str], None]) -> None:
    """Stop every source at once and return when all have stopped. Each waits for its poll and its
    in-flight invocation to end; one after another, sixteen Kafka sources took seconds to stop."""

    def stop(source: EventSource) -> None:
        try:
            source.stop()
        except Exception as exc:  # one source failing to stop must not keep the others running
            log("surge", f"stopping {source.name} failed: {exc}")

    threads = [threading.Thread(target=stop, args=(s,), name=f"stop-{s.name}") for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
