"""Observing single-flight from tests: how many callers joined a cache's flights, so that a
leader can hold its answer until every concurrent caller waits for it (concurrency without
sleeps: each wait is on a condition, with a deadline)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from tiered_cache import TieredCache

DEADLINE = 20.0


class Joins:
    """Counts the callers that joined a cache's flights (the leader and every waiter), so that a
    leader can hold its answer until all of them wait: concurrency without sleeps."""

    def __init__(self, cache: TieredCache) -> None:
        self.count = 0
        self._cond = threading.Condition()
        flights = cache.driver.flights
        join, ajoin = flights.join, flights.ajoin

        def counted(call: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any) -> Any:
                joined = call(*args)
                with self._cond:
                    self.count += 1
                    self._cond.notify_all()
                return joined

            return wrapper

        flights.join = counted(join)  # type: ignore[method-assign]
        flights.ajoin = counted(ajoin)  # type: ignore[method-assign]

    def wait_for(self, n: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.count >= n, DEADLINE), self.count

    async def await_for(self, n: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while self.count < n:
            assert time.monotonic() < deadline, self.count
            await asyncio.sleep(0)  # yield to the other tasks (no wall-clock wait)
