"""Adapter fixtures: LangChain caches over the core caches of tests/conftest.py (both backends)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.runnables import Runnable

from langchain_tiered_cache import TieredLLMCache

from ..conftest import CacheFactory

LCCacheFactory = Callable[..., TieredLLMCache]


@pytest.fixture
def make_lc_cache(make_cache: CacheFactory) -> LCCacheFactory:
    """LangChain caches over fresh core caches (memory or Redis; unique namespace, cleared)."""

    def make(**settings: Any) -> TieredLLMCache:
        return TieredLLMCache(cache=make_cache(**settings))

    return make


@pytest.fixture
def global_cache() -> Iterator[Callable[[BaseCache], None]]:
    """Installs a global LLM cache for one test and restores the previous one afterwards."""
    previous = get_llm_cache()
    yield set_llm_cache
    set_llm_cache(previous)


Invoke = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["sync", "async"])
def invoke(request: pytest.FixtureRequest) -> Invoke:
    """`invoke` or `ainvoke`, so that each case runs through both LangChain paths."""

    async def run(model: Runnable[Any, Any], value: Any, **kwargs: Any) -> Any:
        if request.param == "sync":
            return model.invoke(value, **kwargs)
        return await model.ainvoke(value, **kwargs)

    return run
