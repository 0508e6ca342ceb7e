"""`surge local status` prints each function's invocations and Duration p50/p99."""

from __future__ import annotations

from infra.runtime.commands import format_status
from infra.stats import percentile


def test_percentile_is_nearest_rank():
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_status_lists_function_duration_percentiles():
    status = {
        "url": "http://127.0.0.1:3000",
        "template": "template.yaml",
        "sources": {},
        "functions": {
            "CouponApiFunction": {
                "invocations": 1200,
                "errors": 2,
                "cold_starts": 1,
                "duration_ms": {"p50": 1.234, "p99": 9.5, "max": 40.0, "over_last": 1200},
                "init_duration_ms": {"p50": 812.0, "max": 812.0},
            },
            "Idle": {
                "invocations": 0,
                "errors": 0,
                "cold_starts": 0,
                "duration_ms": {},
                "init_duration_ms": {},
            },
        },
    }
    printed = format_status(status)
    line = next(line for line in printed.splitlines() if "CouponApiFunction" in line)
    assert "invocations=1200" in line and "errors=2" in line
    assert "p50=1.23ms" in line and "p99=9.50ms" in line and "cold_starts=1" in line
    idle = next(line for line in printed.splitlines() if "Idle" in line)
    assert "p50=-" in idle
