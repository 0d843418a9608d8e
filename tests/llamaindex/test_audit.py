"""max_wrong_rate through CachedLLM: a served hit is audited in the background against the
wrapped LLM's fresh answer, compared by what the response answers (its text), not by its JSON
(ids and token counts differ between right answers). `complete` goes through `get_or_compute`;
a stream is audited once read to its end, never when closed halfway."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from llama_index.core.base.llms.types import CompletionResponse
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import PrivateAttr
from tiered_cache import TieredCache

from llamaindex_tiered_cache import CachedLLM
from llamaindex_tiered_cache.responses import CACHE_KEY

from ..conftest import wait_for
from ..unit.fake_embedder import MapEmbedder
from ..unit.test_audit import ASKED, SETTINGS, STORED, proved
from .conftest import CountingLLM


class Baker(CountingLLM):
    """Answers each question from a table; every call reports another token count."""

    _answers: dict[str, str] = PrivateAttr(default_factory=dict)

    def _respond(self, prompt: str) -> CompletionResponse:
        return CompletionResponse(
            text=self._answers[prompt], additional_kwargs={"total_tokens": 40 + self.calls}
        )

    def _answer(self, prompt: str) -> str:  # what the inherited streams say
        return self._answers[prompt]

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._sync_calls += 1
        return self._respond(prompt)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        self._async_calls += 1
        return self._respond(prompt)


async def _text(llm: CachedLLM, prompt: str, mode: str) -> tuple[str, Any]:
    """The answer to `prompt` and its last response, by `complete` or read from a stream."""
    if mode == "sync":
        response = llm.complete(prompt)
        return response.text, response
    if mode == "async":
        response = await llm.acomplete(prompt)
        return response.text, response
    if mode == "stream":
        chunks = list(llm.stream_complete(prompt))
    else:
        chunks = [chunk async for chunk in await llm.astream_complete(prompt)]
    return "".join(c.delta or "" for c in chunks), chunks[-1]


async def _wait_audited(cache: TieredCache, mode: str, at_least: int = 1) -> None:
    """Until `at_least` audits are done and none is in flight."""

    def audited() -> bool:
        in_flight = cache.auditor._in_flight  # type: ignore[union-attr]
        return cache.stats()["audits"] >= at_least and not in_flight

    if mode in ("sync", "stream"):  # the audit runs in a background thread
        wait_for(audited, "the audits")
        return
    deadline = time.monotonic() + 30  # an asyncio task of this loop: yield to it until done
    while not audited():
        assert time.monotonic() < deadline, "timed out waiting for the audits"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
@pytest.mark.parametrize(("fresh", "wrong"), [("Use a hot oven.", 0), ("Buy a cake.", 1)])
async def test_a_served_hit_is_audited_by_its_answer(mode: str, fresh: str, wrong: int) -> None:
    emb = MapEmbedder()
    emb.pair(STORED, ASKED, 0.96)
    cache = TieredCache(embedder=emb, **SETTINGS)
    inner = Baker()
    inner._answers.update({STORED: "Use a hot oven.", ASKED: fresh})
    llm = CachedLLM(llm=inner, cache=cache)
    try:
        proved(cache)
        first, _ = await _text(llm, STORED, mode)
        served, last = await _text(llm, ASKED, mode)
        assert first == served == "Use a hot oven."  # served from the cache at once
        assert last.additional_kwargs[CACHE_KEY]["tier"] == "semantic"
        await _wait_audited(cache, mode)
        assert inner.calls == 2  # the first miss, then the audit's fresh answer
        assert cache.stats()["audits_paid"] == 1
        assert cache.stats()["audits_wrong"] == wrong  # token counts differ either way
    finally:
        cache.close()


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_stream_closed_halfway_is_not_audited(mode: str) -> None:
    emb = MapEmbedder()
    emb.pair(STORED, ASKED, 0.96)
    cache = TieredCache(embedder=emb, **SETTINGS)
    inner = Baker()
    inner._answers.update({STORED: "Use a hot oven.", ASKED: "Buy a cake."})
    llm = CachedLLM(llm=inner, cache=cache)
    try:
        proved(cache)
        await _text(llm, STORED, mode)  # stored whole; its free audit (a miss) settles first
        await _wait_audited(cache, mode, at_least=0)
        audits = cache.stats()["audits"]
        if mode == "stream":
            stream = llm.stream_complete(ASKED)
            assert next(stream).delta == "Use "  # the hit, replayed a word a chunk
            stream.close()
        else:
            astream = await llm.astream_complete(ASKED)
            assert (await astream.__anext__()).delta == "Use "
            await astream.aclose()
        assert cache.stats()["semantic_hits"] == 1
        await asyncio.sleep(0)  # an audit task, had one been started, would be scheduled
        assert cache.stats()["audits"] == audits and not cache.auditor._in_flight  # type: ignore[union-attr]
        assert inner.calls == 1  # only the first stream reached the model
    finally:
        cache.close()
