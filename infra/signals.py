"""Turning SIGTERM into KeyboardInterrupt, so `kill` and Ctrl-C take the same clean shutdown path."""

from __future__ import annotations

import signal
from types import FrameType


def exit_on_sigterm() -> None:
    def _raise(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)
