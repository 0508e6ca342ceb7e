"""One live progress line: redrawn in place on a terminal, printed every few seconds otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


class Progress:
    def __init__(self, render: Callable[[], str], interval: float = 0.25) -> None:
        self._render = render
        self._tty = sys.stdout.isatty()
        self._interval = interval if self._tty else 2.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._draw(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()

    def _draw(self, final: bool = False) -> None:
        line = self._render()
        if self._tty:
            sys.stdout.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()


def elapsed_since(started: float) -> float:
    return max(time.monotonic() - started, 1e-9)
