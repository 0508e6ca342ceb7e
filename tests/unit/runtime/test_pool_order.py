"""Callers waiting for a function's execution environment are served in arrival order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from infra.runtime.workers import FunctionRuntime, _NoEnvironment, _Pool


class _Environment:
    killed = False

    def kill(self) -> None:
        self.killed = True


def _pool(concurrency: int = 1) -> _Pool:
    function = FunctionRuntime("Fn", "surge-Fn", "app.handler", "/nonexistent", 3.0, 128, {}, concurrency)
    return _Pool(function, {}, lambda _fid, _line: None)


def _wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_freed_environment_goes_to_the_caller_waiting_longest_not_to_a_newcomer() -> None:
    pool = _pool()
    assert pool.acquire() is None  # the only environment: the caller starts it
    environment = _Environment()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(5.0)))
    waiter.start()
    _wait_until(lambda: len(pool._waiting) == 1)
    pool.release(environment)  # type: ignore[arg-type]
    # A caller arriving now, before the waiter has woken up, queues behind it.
    with pytest.raises(_NoEnvironment):
        pool.acquire(0.0)
    waiter.join(5)
    assert got == [environment]


def test_waiters_get_environments_in_the_order_they_came() -> None:
    pool = _pool()
    assert pool.acquire() is None
    order: list[int] = []

    def wait_then_hand_back(n: int) -> None:
        environment = pool.acquire(10.0)
        order.append(n)
        pool.release(environment)

    threads = []
    for n in range(5):
        thread = threading.Thread(target=wait_then_hand_back, args=(n,))
        thread.start()
        threads.append(thread)
        _wait_until(lambda n=n: len(pool._waiting) == n + 1)
    pool.release(_Environment())  # type: ignore[arg-type]
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_a_waiter_that_gives_up_does_not_hold_up_the_next() -> None:
    pool = _pool()
    assert pool.acquire() is None
    with pytest.raises(_NoEnvironment):
        pool.acquire(0.05)
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(5.0)))
    waiter.start()
    _wait_until(lambda: len(pool._waiting) == 1)
    environment = _Environment()
    pool.release(environment)  # type: ignore[arg-type]
    waiter.join(5)
    assert got == [environment] and not pool._waiting


def test_closing_the_pool_wakes_every_waiter_with_an_error() -> None:
    pool = _pool()
    assert pool.acquire() is None
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            pool.acquire(10.0)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(pool._waiting) == 3)
    pool.close()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 3 and all("closed" in str(e) for e in errors)
