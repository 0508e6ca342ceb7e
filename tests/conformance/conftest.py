"""Conformance fixtures: a LocalRuntime for one of the templates here, against the session's real
Kafka and DynamoDB Local; every runtime started is stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.runtime.app import LocalRuntime
from infra.stack.stack import ServiceStack

HERE = Path(__file__).resolve().parent
RuntimeFactory = Callable[..., LocalRuntime]


@pytest.fixture
def runtime_logs() -> list[str]:
    return []


@pytest.fixture
def start_runtime(stack: ServiceStack, tmp_path: Path, runtime_logs: list[str]) -> Iterator[RuntimeFactory]:
    started: list[LocalRuntime] = []

    def start(template: Path, *, healthy: bool = True, **options: Any) -> LocalRuntime:
        runtime = LocalRuntime(
            template,
            stack.endpoints,
            port=0,
            state_dir=tmp_path / f"runtime-{len(started)}",
            log=lambda fid, line: runtime_logs.append(f"[{fid}] {line}"),
            **options,
        )
        started.append(runtime)
        runtime.start()
        if healthy:
            runtime.wait_healthy()
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
