"""The stack's own figures: time to ready for `surge stack up --detach`, and the services' peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infra.bench.report import Report
from infra.stack.process import peak_rss_mib
from infra.stack.stack import read_state


def start_detached_stack(state_dir: Path, report: Report) -> dict[str, Any]:
    """Start the stack the way a user does and time it; returns its state (endpoints, pids)."""
    env = {**os.environ, "SURGE_STATE_DIR": str(state_dir)}
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "infra.cli", "stack", "up", "--detach", "--no-provision"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    report.add("stack", "surge stack up --detach: time to ready", time.monotonic() - started, "s")
    state = read_state(state_dir)
    if state is None:
        raise RuntimeError("the stack reported ready but left no state")
    return state


def stop_detached_stack(state_dir: Path, state: dict[str, Any], report: Report) -> None:
    # Peaks are read while the services still run; the stack goes down even if printing them fails
    # (a closed stdout, e.g. `surge bench | head`, left both services running).
    peaks = {
        label: peak_rss_mib(state[name]["pid"])
        for name, label in (("kafka", "Kafka"), ("dynamodb", "DynamoDB Local"))
    }
    try:
        for label, peak in peaks.items():
            if peak is not None:
                report.add("stack", f"{label}: peak memory (VmHWM, whole run)", peak, "MiB")
    finally:
        env = {**os.environ, "SURGE_STATE_DIR": str(state_dir)}
        subprocess.run(
            [sys.executable, "-m", "infra.cli", "stack", "down"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
