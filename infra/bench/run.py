"""`surge bench`: one run, one machine, every figure printed with the ratios the issues target."""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common.config import Endpoints
from infra.bench.report import Report
from infra.bench.stack_bench import start_detached_stack, stop_detached_stack
from infra.cli_args import positive_float
from infra.signals import exit_on_sigterm
from infra.stack.process import proc_field

Section = Callable[[Endpoints, Report, argparse.Namespace], None]
# In the order they run; named here so that `--only` can refuse a misspelt one before a stack starts.
SECTION_NAMES = ("runtime", "coupons", "queue", "outbox", "accept")


def _sections() -> dict[str, Section]:
    from infra.bench import accept_bench, coupons_bench, outbox_bench, queue_bench, runtime_bench

    return {
        "runtime": runtime_bench.section,
        "coupons": coupons_bench.section,
        "queue": queue_bench.section,
        "outbox": outbox_bench.section,
        "accept": accept_bench.section,
    }


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="measure the stack, the runtime and the coupon issuer")
    bench.add_argument(
        "--only", nargs="+", choices=SECTION_NAMES, default=None, help="sections to run (default all)"
    )
    bench.add_argument(
        "--scale", type=positive_float, default=1.0, help="multiply record counts (e.g. 0.2 for a quick run)"
    )
    bench.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    exit_on_sigterm()  # a `kill` must still stop the detached stack below (it outlives this process)
    report = Report()
    print("surge bench (figures are printed, not asserted)", flush=True)
    print(f"  machine: {describe_machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
        state_dir = Path(tmp)
        state = start_detached_stack(state_dir, report)
        endpoints = Endpoints.from_env(state["endpoints"])
        try:
            for name, section in _sections().items():
                if args.only and name not in args.only:
                    continue
                started = time.monotonic()
                print(f"[{name}]", flush=True)
                section(endpoints, report, args)
                print(f"  ({name} took {time.monotonic() - started:.0f}s)", flush=True)
        finally:
            stop_detached_stack(state_dir, state, report)
    print(report.table())
    return 0


def describe_machine() -> str:
    """What the figures depend on most: every process of a run shares these cores (the same count
    the runtime's default concurrency is taken from)."""
    memory_kib = proc_field("/proc/meminfo", "MemTotal")  # e.g. "24641260 kB"
    parts = [
        f"{len(os.sched_getaffinity(0))} CPU cores usable",
        proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        f"{int(memory_kib.split()[0]) / 1024 / 1024:.1f} GiB memory" if memory_kib else "",
        f"Python {platform.python_version()}",
    ]
    return ", ".join(part for part in parts if part)
