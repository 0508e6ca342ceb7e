"""Where surge keeps what it installs (a cache outside git) and what a running stack leaves behind."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Kafka jars and DynamoDB Local live here, shared by every checkout on the machine."""
    configured = os.environ.get("SURGE_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "surge"
    base.mkdir(parents=True, exist_ok=True)
    return base


def state_dir() -> Path:
    """Per-project runtime state (the detached stack's pids and ports, logs)."""
    configured = os.environ.get("SURGE_STATE_DIR")
    base = Path(configured) if configured else Path.cwd() / ".surge"
    base.mkdir(parents=True, exist_ok=True)
    return base
