from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tiered_cache import CacheHit, CacheRequest, TieredCache


class Driver:
    """Runs the same test case through the sync or the async API."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def lookup(self, cache: TieredCache, req: CacheRequest) -> CacheHit | None:
        if self.mode == "sync":
            return cache.lookup(req)
        return asyncio.run(cache.alookup(req))

    def store(self, cache: TieredCache, req: CacheRequest, payload: str, **kw: Any) -> bool:
        if self.mode == "sync":
            return cache.store(req, payload, **kw)
        return asyncio.run(cache.astore(req, payload, **kw))

    def clear(self, cache: TieredCache) -> None:
        if self.mode == "sync":
            cache.clear()
        else:
            asyncio.run(cache.aclear())


@pytest.fixture(params=["sync", "async"])
def io(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)
