"""A demo's stack lives in a temporary folder; its logs are copied out before that folder goes, so the
function log it printed can still be read after the run (or after a failure)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.paths import state_dir


def keep_logs(run_dir: Path, scenario: str) -> Path:
    """Copies `run_dir/logs` to `<state>/logs/demo-<scenario>/`, replacing the previous run's copy."""
    kept = state_dir() / "logs" / f"demo-{scenario}"
    shutil.rmtree(kept, ignore_errors=True)
    source = run_dir / "logs"
    if source.is_dir():
        shutil.copytree(source, kept)
    else:
        kept.mkdir(parents=True)
    return kept


@contextmanager
def logs_kept(run_dir: Path, scenario: str) -> Iterator[None]:
    """On the way out, however the demo ended, keeps its logs and says where."""
    try:
        yield
    finally:
        print(f"  logs kept in {keep_logs(run_dir, scenario)}", flush=True)
