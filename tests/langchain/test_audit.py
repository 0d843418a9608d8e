"""max_wrong_rate through `cached(model)`: a served hit is audited in the background against the
wrapped model's fresh answer (compared by what the generations answer, not by their JSON), a
miss is compared with its nearest stored neighbour for free; LangChain's own `set_llm_cache`
path never audits (LangChain calls the model, not the cache)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr
from tiered_cache import TieredCache

from langchain_tiered_cache import TieredLLMCache, cached

from ..conftest import wait_for
from ..unit.fake_embedder import MapEmbedder
from ..unit.test_audit import ASKED, SETTINGS, STORED, proved


class Baker(BaseChatModel):
    """Answers each question from a table; every call reports other token counts."""

    answers: dict[str, str]
    _asked: list[str] = PrivateAttr(default_factory=list)  # shared with the wrapper's copy

    @property
    def _llm_type(self) -> str:
        return "baker"

    @property
    def calls(self) -> int:
        return len(self._asked)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._asked.append(messages[-1].text)
        n = len(self._asked)
        usage = {"input_tokens": 5, "output_tokens": n, "total_tokens": 5 + n}
        message = AIMessage(self.answers[messages[-1].text], usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


def core_cache() -> TieredCache:
    emb = MapEmbedder()
    emb.pair(STORED, ASKED, 0.96)
    return TieredCache(embedder=emb, **SETTINGS)


async def settled(cache: TieredCache, mode: str) -> None:
    """Until the cache's audits are done (a thread, or a task of this loop), with a deadline."""

    def done() -> bool:
        return cache.stats()["audits"] >= 1 and not cache.auditor._in_flight  # type: ignore[union-attr]

    if mode == "sync":
        wait_for(done, "the audits")
        return
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the audits"
        await asyncio.sleep(0.01)


async def asked(model: Any, question: str, mode: str, how: str) -> str:
    if how == "stream" and mode == "sync":
        return "".join(chunk.text for chunk in model.stream(question))
    if how == "stream":
        return "".join([chunk.text async for chunk in model.astream(question)])
    answer = model.invoke(question) if mode == "sync" else await model.ainvoke(question)
    return str(answer.text)


@pytest.mark.parametrize("how", ["invoke", "stream"])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("fresh", "wrong"), [("Use a hot oven.", 0), ("Buy a cake.", 1)])
async def test_cached_model_audits_a_served_hit_by_its_answer(
    mode: str, how: str, fresh: str, wrong: int
) -> None:
    cache = core_cache()
    inner = Baker(answers={STORED: "Use a hot oven.", ASKED: fresh})
    model = cached(inner, TieredLLMCache(cache=cache))
    try:
        proved(cache)
        for question in (STORED, ASKED):  # a stream's hit is replayed, then audited
            assert await asked(model, question, mode, how) == "Use a hot oven."
        await settled(cache, mode)
        stats = cache.stats()
        assert stats["semantic_hits"] == 1 and inner.calls == 2  # the miss, the audit
        # The first miss had no other stored question to compare with: only the hit is audited.
        assert (stats["audits_free"], stats["audits_paid"]) == (0, 1)
        assert stats["audits_wrong"] == wrong  # token counts differ either way
    finally:
        cache.close()


def test_set_llm_cache_path_never_audits() -> None:
    cache = core_cache()
    inner = Baker(answers={STORED: "Use a hot oven.", ASKED: "Buy a cake."})
    inner.cache = TieredLLMCache(cache=cache)
    try:
        proved(cache)
        assert inner.invoke(STORED).text == inner.invoke(ASKED).text == "Use a hot oven."
        assert cache.stats()["audits"] == 0 and inner.calls == 1
        assert not cache.auditor._in_flight  # type: ignore[union-attr]
        assert (
            "never audited"
            in cache.explain(cache.request(ASKED, model="m"))["bound"]["audited_where"]
        )
    finally:
        cache.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_stream_closed_halfway_is_not_audited(mode: str) -> None:
    cache = core_cache()
    inner = Baker(answers={STORED: "Heat the oven first, then bake.", ASKED: "Buy a cake."})
    model = cached(inner, TieredLLMCache(cache=cache))
    try:
        proved(cache)
        model.invoke(STORED)
        if mode == "sync":
            stream = model.stream(ASKED)
            assert next(stream).text == "Heat "
            stream.close()
        else:
            astream = model.astream(ASKED)
            assert (await astream.__anext__()).text == "Heat "
            await astream.aclose()
        assert cache.stats()["semantic_hits"] == 1
        assert cache.stats()["audits"] == 0 and inner.calls == 1
        assert not cache.auditor._in_flight  # type: ignore[union-attr]
    finally:
        cache.close()
