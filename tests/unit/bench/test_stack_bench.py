"""The bench's detached stack goes down however the run ends."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.bench import stack_bench
from infra.bench.report import Report

STATE = {"kafka": {"pid": 1}, "dynamodb": {"pid": 2}}


class ClosedStdout(Report):
    def add(self, *args: Any, **kwargs: Any) -> float:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What stop_detached_stack did, in order: each peak it read, then the `stack down` it ran."""
    done: list[str] = []

    def peak_rss_mib(pid: int) -> float:
        done.append(f"peak {pid}")
        return 100.0 * pid

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        done.append(" ".join(argv[-2:]))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(stack_bench, "peak_rss_mib", peak_rss_mib)
    monkeypatch.setattr(stack_bench.subprocess, "run", run)
    return done


def test_the_stack_goes_down_even_when_its_figures_cannot_be_printed(
    tmp_path: Path, calls: list[str]
) -> None:
    # `surge bench | head -4` closed stdout: printing the peak memory failed, and both services kept running.
    with pytest.raises(BrokenPipeError):
        stack_bench.stop_detached_stack(tmp_path, STATE, ClosedStdout())
    assert calls == ["peak 1", "peak 2", "stack down"]


def test_the_peaks_are_read_and_reported_before_the_stack_goes_down(tmp_path: Path, calls: list[str]) -> None:
    report = Report()
    stack_bench.stop_detached_stack(tmp_path, STATE, report)
    assert calls == ["peak 1", "peak 2", "stack down"]
    assert [(f.name, f.value) for f in report.figures] == [
        ("Kafka: peak memory (VmHWM, whole run)", 100.0),
        ("DynamoDB Local: peak memory (VmHWM, whole run)", 200.0),
    ]
