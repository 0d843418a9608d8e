"""LangChain's own cache suites, unmodified, on the embedded default and on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from langchain_tiered_cache import TieredLLMCache


class TestSyncEmbedded(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> TieredLLMCache:
        return TieredLLMCache()


class TestAsyncEmbedded(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self) -> TieredLLMCache:
        return TieredLLMCache()


@pytest.mark.redis
class TestSyncRedis(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, redis_url: str, namespace: str) -> Iterator[TieredLLMCache]:
        cache = TieredLLMCache.from_url(redis_url, namespace=namespace)
        yield cache
        cache.clear()
        cache.close()


@pytest.mark.redis
class TestAsyncRedis(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, redis_url: str, namespace: str) -> AsyncIterator[TieredLLMCache]:
        cache = TieredLLMCache.from_url(redis_url, namespace=namespace)
        yield cache
        await cache.aclear()
        cache.close()
