"""Callers waiting for a function's execution environment are served in arrival order (the pool lives
on the invoker's event loop; these tests drive it on a loop of their own)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infra.runtime.workers import FunctionRuntime, InvokerClosedError, _NoEnvironment, _Pool


class _Environment:
    exited = False
    killed = False

    def kill(self) -> None:
        self.killed = True


def _pool(concurrency: int = 1) -> _Pool:
    function = FunctionRuntime("Fn", "surge-Fn", "app.handler", "/nonexistent", 3.0, 128, {}, concurrency)
    return _Pool(function, {}, lambda _fid, _line: None)


async def _settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_freed_environment_goes_to_the_caller_waiting_longest_not_to_a_newcomer() -> None:
    async def scenario() -> None:
        pool = _pool()
        assert await pool.acquire() is None  # the only environment: the caller starts it
        environment = _Environment()
        waiter = asyncio.create_task(pool.acquire(5.0))
        await _settle()
        pool.release(environment)  # type: ignore[arg-type]
        # A caller arriving now, before the waiter has run again, does not get it.
        with pytest.raises(_NoEnvironment):
            await pool.acquire(0.0)
        assert await waiter is environment

    asyncio.run(scenario())


def test_waiters_get_environments_in_the_order_they_came() -> None:
    async def scenario() -> list[int]:
        pool = _pool()
        assert await pool.acquire() is None
        order: list[int] = []

        async def wait_then_hand_back(n: int) -> None:
            environment = await pool.acquire(10.0)
            order.append(n)
            await asyncio.sleep(0)
            pool.release(environment)

        tasks = []
        for n in range(5):
            tasks.append(asyncio.create_task(wait_then_hand_back(n)))
            await _settle()
        pool.release(_Environment())  # type: ignore[arg-type]
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_a_waiter_that_gives_up_does_not_hold_up_the_next() -> None:
    async def scenario() -> None:
        pool = _pool()
        assert await pool.acquire() is None
        with pytest.raises(_NoEnvironment):
            await pool.acquire(0.05)
        waiter = asyncio.create_task(pool.acquire(5.0))
        await _settle()
        environment = _Environment()
        pool.release(environment)  # type: ignore[arg-type]
        assert await waiter is environment
        assert not pool._waiting

    asyncio.run(scenario())


def test_a_waiter_cancelled_after_its_turn_came_hands_the_environment_on() -> None:
    """Cancelled in the instant between being handed an environment and running again: the
    environment goes to the next caller instead of being lost to the pool."""

    async def scenario() -> None:
        pool = _pool()
        assert await pool.acquire() is None
        first = asyncio.create_task(pool.acquire(5.0))
        second = asyncio.create_task(pool.acquire(5.0))
        await _settle()
        environment = _Environment()
        pool.release(environment)  # type: ignore[arg-type]  # handed to `first`...
        first.cancel()  # ...which is cancelled before it runs
        assert await second is environment
        assert first.cancelled()

    asyncio.run(scenario())


def test_an_environment_that_exited_while_idle_is_not_handed_out() -> None:
    async def scenario() -> Any:
        pool = _pool(concurrency=2)
        assert await pool.acquire() is None
        gone = _Environment()
        pool.release(gone)  # type: ignore[arg-type]
        gone.exited = True  # its process ended while it was idle
        taken = await pool.acquire()
        return taken, gone.killed, pool.count

    taken, killed, count = asyncio.run(scenario())
    assert taken is None and killed  # the caller starts a fresh one in its place
    assert count == 1


def test_closing_the_pool_turns_every_waiter_away() -> None:
    async def scenario() -> list[Any]:
        pool = _pool()
        assert await pool.acquire() is None
        waiters = [asyncio.create_task(pool.acquire(10.0)) for _ in range(3)]
        await _settle()
        pool.close()
        return list(await asyncio.gather(*waiters, return_exceptions=True))

    errors = asyncio.run(scenario())
    assert len(errors) == 3 and all(isinstance(e, InvokerClosedError) for e in errors)
