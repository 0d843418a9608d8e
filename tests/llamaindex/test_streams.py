"""Concurrent identical streams share one model call: the first caller streams the wrapped LLM's
answer, the others wait for it and get it replayed a word a chunk (sync threads and asyncio
tasks, chat and completion); a failed stream frees the key for the next caller."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from llama_index.core.llms import (
    ChatMessage,
    ChatResponseAsyncGen,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
)
from pydantic import PrivateAttr

from llamaindex_tiered_cache import CACHE_KEY, CachedLLM

from ..conftest import CacheFactory
from ..flights import DEADLINE, Joins
from .conftest import CountingLLM

CALLERS = 8
QUESTION = "Name three primary colors."


class GatedLLM(CountingLLM):
    """CountingLLM whose answers wait until every caller has joined the cache's flight."""

    _joins: Joins | None = PrivateAttr(default=None)
    _fail_first: bool = PrivateAttr(default=False)

    def _check(self) -> None:
        if self._fail_first and self.calls == 1:
            raise RuntimeError("model down")

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        assert self._joins is not None
        self._joins.wait_for(CALLERS)
        stream = super().stream_complete(prompt, formatted, **kwargs)
        self._check()
        return stream

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        assert self._joins is not None
        await self._joins.await_for(CALLERS)
        stream = await super().astream_complete(prompt, formatted, **kwargs)
        self._check()
        return stream

    async def astream_chat(self, messages: Any, **kwargs: Any) -> ChatResponseAsyncGen:
        assert self._joins is not None
        await self._joins.await_for(CALLERS)
        stream = await super().astream_chat(messages, **kwargs)
        self._check()
        return stream


def consume_sync(llm: CachedLLM, endpoint: str) -> list[Any]:
    if endpoint == "chat":
        return list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)]))
    return list(llm.stream_complete(QUESTION))


async def consume_async(llm: CachedLLM, endpoint: str) -> list[Any]:
    if endpoint == "chat":
        stream = await llm.astream_chat([ChatMessage(role="user", content=QUESTION)])
    else:
        stream = await llm.astream_complete(QUESTION)
    return [chunk async for chunk in stream]


def run_all(llm: CachedLLM, mode: str, endpoint: str) -> list[Any]:
    """Each caller's chunks, or the exception its stream raised."""
    if mode == "async":

        async def main() -> list[Any]:
            calls = (consume_async(llm, endpoint) for _ in range(CALLERS))
            return list(await asyncio.gather(*calls, return_exceptions=True))

        return asyncio.run(main())
    out: list[Any] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            result: Any = consume_sync(llm, endpoint)
        except Exception as exc:
            result = exc
        with lock:
            out.append(result)

    threads = [threading.Thread(target=one) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    return out


def text_of(chunk: Any) -> str:
    return str(chunk.message.content) if hasattr(chunk, "message") else str(chunk.text)


def gated(llm: CachedLLM) -> GatedLLM:
    inner = llm.llm
    assert isinstance(inner, GatedLLM)
    inner._joins = Joins(llm.cache)
    return inner


@pytest.mark.parametrize("endpoint", ["chat", "complete"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_concurrent_identical_streams_make_one_model_call(
    make_cache: CacheFactory, mode: str, endpoint: str
) -> None:
    llm = CachedLLM(llm=GatedLLM(), cache=make_cache(semantic=False))
    inner = gated(llm)
    results = run_all(llm, mode, endpoint)

    assert inner.calls == 1
    finals = [text_of(chunks[-1]) for chunks in results]
    assert len(set(finals)) == 1 and finals[0].startswith("answer 1 from fake-1:")
    fresh = [c for c in results if CACHE_KEY not in c[-1].additional_kwargs]
    replayed = [c for c in results if CACHE_KEY in c[-1].additional_kwargs]
    assert len(fresh) == 1 and len(replayed) == CALLERS - 1
    for chunks in replayed:  # a word a chunk, each marked, as a replayed hit
        assert "".join(c.delta for c in chunks) == finals[0]
        assert len(chunks) == len(finals[0].split(" "))
        assert all(c.additional_kwargs[CACHE_KEY]["coalesced"] for c in chunks)
    stats = llm.cache.stats()
    assert (stats["misses"], stats["coalesced_hits"]) == (1, CALLERS - 1)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_stream_frees_the_key(make_cache: CacheFactory, mode: str) -> None:
    llm = CachedLLM(llm=GatedLLM(), cache=make_cache(semantic=False))
    inner = gated(llm)
    inner._fail_first = True
    results = run_all(llm, mode, "complete")

    errors = [r for r in results if isinstance(r, Exception)]
    assert [str(e) for e in errors] == ["model down"]
    assert inner.calls == 2  # a waiter led in the failed leader's place
    finals = {text_of(r[-1]) for r in results if not isinstance(r, Exception)}
    assert len(finals) == 1 and next(iter(finals)).startswith("answer 2 from fake-1:")
    assert len(llm.cache.driver.flights) == 0
