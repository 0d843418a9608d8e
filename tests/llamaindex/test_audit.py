"""max_wrong_rate through CachedLLM: its calls go through `get_or_compute`, so a served hit is
audited in the background against the wrapped LLM's fresh answer, compared by what the response
answers (its text), not by its JSON (ids and token counts differ between right answers)."""

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


@pytest.mark.parametrize("mode", ["sync", "async"])
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
        first = llm.complete(STORED) if mode == "sync" else await llm.acomplete(STORED)
        served = llm.complete(ASKED) if mode == "sync" else await llm.acomplete(ASKED)
        assert first.text == served.text == "Use a hot oven."  # served from the cache at once
        assert served.additional_kwargs[CACHE_KEY]["tier"] == "semantic"

        def audited() -> bool:
            return cache.stats()["audits"] >= 1 and not cache.auditor._in_flight  # type: ignore[union-attr]

        if mode == "sync":  # the audit runs in a background thread
            wait_for(audited, "the audit of the served hit")
        else:  # an asyncio task of this loop: yield to it until done, with a deadline
            deadline = time.monotonic() + 30
            while not audited():
                assert time.monotonic() < deadline, "timed out waiting for the audit"
                await asyncio.sleep(0.01)
        assert inner.calls == 2  # the first miss, then the audit's fresh answer
        assert cache.stats()["audits_paid"] == 1
        assert cache.stats()["audits_wrong"] == wrong  # token counts differ either way
    finally:
        cache.close()
