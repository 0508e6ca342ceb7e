"""Shared helpers of the event source conformance tests: a recording function, producers, waits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.runtime.workers import FunctionRuntime, WorkerInvoker

CODE = str(Path(__file__).parent / "functions")


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass
class Probe:
    """The recording function `Probe` (tests/runtime/functions/esm_probe.py) in a real WorkerInvoker."""

    dir: Path
    timeout_s: float = 5.0
    invoker: WorkerInvoker = field(init=False)

    def __post_init__(self) -> None:
        self.record_file = self.dir / "records.jsonl"
        self.control_file = self.dir / "control.json"
        env = {"ESM_RECORD_FILE": str(self.record_file), "ESM_CONTROL_FILE": str(self.control_file)}
        function = FunctionRuntime(
            "Probe", "surge-Probe", "esm_probe.handler", CODE, self.timeout_s, 128, env, 8
        )
        self.invoker = WorkerInvoker({"Probe": function}, log=lambda f, line: None)

    def script(self, *steps: dict[str, Any]) -> None:
        self.control_file.write_text(json.dumps({"script": list(steps)}))

    def events(self) -> list[dict[str, Any]]:
        if not self.record_file.exists():
            return []
        return [json.loads(line)["event"] for line in self.record_file.read_text().splitlines() if line]

    def close(self) -> None:
        self.invoker.close()
