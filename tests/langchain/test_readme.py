"""The LangChain examples of the README and of docs/langchain.md run as written."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache

from langchain_tiered_cache import TieredLLMCache

from ..readme import README, page_path, python_blocks

DOCS = "docs/langchain.md"


def test_quick_start(
    capsys: pytest.CaptureFixture[str], global_cache: Callable[[BaseCache], None]
) -> None:
    (block,) = python_blocks("Quick start: LangChain")
    exec(compile(block, str(README), "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["Paris.", "Paris.", "Paris."]
    cache = get_llm_cache()  # the block installed it; the fixture puts the previous one back
    assert isinstance(cache, TieredLLMCache)
    stats = cache.stats()
    assert (stats["exact_hits"], stats["semantic_hits"], stats["misses"]) == (1, 1, 1)


def test_base_cache_example(
    capsys: pytest.CaptureFixture[str], global_cache: Callable[[BaseCache], None]
) -> None:
    (block,) = python_blocks("The BaseCache", page=DOCS)
    exec(compile(block, str(page_path(DOCS)), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["Paris.", "Paris."]
    assert lines[2].startswith("{'hit': True, 'tier': 'semantic', 'similarity': 0.95")
    assert lines[3:] == ["Madrid. Madrid.", "1"]


@pytest.mark.redis
def test_redis_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    (block,) = python_blocks("Sharing one cache: Redis Stack")
    exec(compile(block, str(README), "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["42.", "42."]
