"""End-to-end fixtures: the local runtime in this process (HTTP server and event sources on threads,
functions in worker processes) against the session's real Kafka and DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.runtime.app import LocalRuntime
from infra.stack.stack import ServiceStack
from tests.conftest import TEMPLATE

TEMPLATES = Path(__file__).parent / "templates"
RuntimeFactory = Callable[..., LocalRuntime]


@pytest.fixture
def start_runtime(stack: ServiceStack, tmp_path: Path) -> Iterator[RuntimeFactory]:
    """Start a LocalRuntime for a template; every runtime started is stopped after the test."""
    started: list[LocalRuntime] = []
    logs: list[str] = []

    def start(template: Path = TEMPLATE) -> LocalRuntime:
        runtime = LocalRuntime(
            template,
            stack.endpoints,
            port=0,
            state_dir=tmp_path / f"runtime-{len(started)}",
            log=lambda fid, line: logs.append(f"[{fid}] {line}"),
        )
        started.append(runtime)
        runtime.start()
        runtime.wait_healthy()
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
