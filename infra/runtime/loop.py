"""`LoopThread`: an asyncio event loop running in a daemon thread of its own.

The runtime's I/O with its workers and its HTTP clients runs on one such loop (workers.py,
http_api.py): a thread per connection and per worker log handed the interpreter lock back and forth
about fifty ways, which cost more CPU than the requests themselves (README, Benchmarks). The loop is
uvloop's (libuv): per HTTP request through the runtime it took 15% less CPU than asyncio's own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")

_STOP_WAIT_S = 10.0  # for the loop's tasks to end once stop was asked for


class LoopClosedError(RuntimeError):
    pass


class LoopThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = uvloop.new_event_loop()
        self._lock = threading.Lock()  # `call` against `stop`: nothing is scheduled on a stopped loop
        self._closed = False
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Schedule `coroutine` on the loop from any thread; a concurrent future of its result."""
        with self._lock:
            if self._closed:
                coroutine.close()
                raise LoopClosedError(f"{self.name} is stopped")
            return asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[return-value]

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for its result, from another thread. On the loop
        itself this would wait forever for itself, so it is refused there."""
        if self.on_loop():
            coroutine.close()
            raise RuntimeError(f"a blocking call on {self.name}'s own loop: await the coroutine instead")
        return self.submit(coroutine).result()

    def stop(self, closing: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run `closing` on the loop (it should end what runs there), wait for the loop's other
        tasks (bounded), then stop the loop and its thread. Idempotent."""
        with self._lock:
            if self._closed:
                if closing is not None:
                    closing.close()
                return
            self._closed = True
            # Scheduled under the lock, after anything `submit` scheduled before: those tasks exist by
            # the time it runs, and are waited for.
            done = asyncio.run_coroutine_threadsafe(self._wind_down(closing), self.loop)
        # Stopped once the wind-down's result is out (stopping inside it would leave `done` unset).
        done.add_done_callback(lambda _: self.loop.call_soon_threadsafe(self.loop.stop))
        if self.on_loop():
            return  # it stops once this callback returns
        try:
            done.result()
        finally:
            self._thread.join(_STOP_WAIT_S)
            if not self._thread.is_alive():
                self.loop.close()

    async def _wind_down(self, closing: Coroutine[Any, Any, Any] | None) -> None:
        try:
            if closing is not None:
                await closing
        finally:
            others = asyncio.all_tasks() - {asyncio.current_task()}
            if others:
                await asyncio.wait(others, timeout=_STOP_WAIT_S)
