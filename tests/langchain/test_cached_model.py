"""`cached(model)`: hits replayed as streams, streamed misses stored once whole, per-call options,
tools and structured output, on every backend (embedded, Redis, cluster), sync and async."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from pydantic import BaseModel
from tiered_cache import InvalidRequestError

from langchain_tiered_cache import CachedChatModel, TieredLLMCache, cached

from .conftest import LCCacheFactory
from .fakes import EchoChat, StreamingEcho

QUESTION = "What is the capital of France?"
PARAPHRASE = "What's the capital city of France?"
Stream = Callable[..., Awaitable[list[AIMessageChunk]]]


@pytest.fixture(params=["sync", "async"])
def stream(request: pytest.FixtureRequest) -> Stream:
    """`stream` or `astream`, consumed to the end, as a list of chunks."""

    async def run(model: Any, value: Any, **kwargs: Any) -> list[AIMessageChunk]:
        if request.param == "sync":
            return list(model.stream(value, **kwargs))
        return [chunk async for chunk in model.astream(value, **kwargs)]

    return run


def joined(chunks: list[AIMessageChunk]) -> str:
    return "".join(str(c.content) for c in chunks)


def model_on(make_lc_cache: LCCacheFactory, **settings: Any) -> tuple[CachedChatModel, Any]:
    inner = StreamingEcho()
    return cached(inner, make_lc_cache(**settings)), inner


async def test_a_repeated_stream_is_replayed_without_the_model(
    make_lc_cache: LCCacheFactory, stream: Stream
) -> None:
    model, inner = model_on(make_lc_cache)
    first = await stream(model, QUESTION)
    assert inner.calls == 1 and joined(first) == f"answer #1 to: {QUESTION}"
    assert len(first) > 3  # the provider's own chunks, passed on as they come
    second = await stream(model, QUESTION)
    assert inner.calls == 1  # served from the cache
    assert joined(second) == joined(first) and len(second) > 3  # a stream, not one block
    last = second[-1]
    assert last.usage_metadata is not None and last.usage_metadata["total_tokens"] == 18
    assert last.response_metadata["tiered_cache"]["tier"] == "exact"
    assert last.response_metadata["finish_reason"] == "stop"
    assert all("tiered_cache" not in c.response_metadata for c in second[:-1])


async def test_a_paraphrase_is_replayed_as_a_stream(
    make_lc_cache: LCCacheFactory, stream: Stream
) -> None:
    model, inner = model_on(make_lc_cache)
    await stream(model, QUESTION)
    replayed = await stream(model, PARAPHRASE)
    assert inner.calls == 1 and joined(replayed) == f"answer #1 to: {QUESTION}"
    info = replayed[-1].response_metadata["tiered_cache"]
    assert info["tier"] == "semantic" and info["matched_query"] == QUESTION


async def test_a_stream_abandoned_halfway_is_not_stored(make_lc_cache: LCCacheFactory) -> None:
    model, inner = model_on(make_lc_cache)
    for chunk in model.stream(QUESTION):
        assert chunk.content == "answer "
        break  # the user closed the tab
    async for _ in model.astream("Who wrote Hamlet?"):
        break
    assert inner.calls == 2
    assert joined(list(model.stream(QUESTION))) == f"answer #3 to: {QUESTION}"
    assert inner.calls == 3  # nothing had been stored: the model answered again


async def test_astream_events_show_a_hit_as_a_stream(make_lc_cache: LCCacheFactory) -> None:
    model, inner = model_on(make_lc_cache)
    model.invoke(QUESTION)  # stored by invoke, replayed by astream_events
    events = [e async for e in model.astream_events(QUESTION, version="v2")]
    tokens = [e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"]
    assert inner.calls == 1 and len(tokens) > 3
    assert "".join(tokens) == f"answer #1 to: {QUESTION}"
    end = next(e for e in events if e["event"] == "on_chat_model_end")
    assert end["data"]["output"].response_metadata["tiered_cache"]["hit"] is True


async def test_invoke_batch_and_stream_share_entries_with_the_base_cache(
    make_lc_cache: LCCacheFactory,
) -> None:
    lc_cache = make_lc_cache()
    inner = StreamingEcho()
    plain = StreamingEcho(cache=lc_cache)  # the BaseCache adapter on the model itself
    assert plain.invoke(QUESTION).content == f"answer #1 to: {QUESTION}"
    model = cached(inner, lc_cache)
    assert joined(list(model.stream(QUESTION))) == f"answer #1 to: {QUESTION}"
    answers = model.batch([QUESTION, "Who wrote Hamlet?"])
    assert [a.content for a in answers] == [
        f"answer #1 to: {QUESTION}",
        "answer #1 to: Who wrote Hamlet?",
    ]
    assert (await model.ainvoke("Who wrote Hamlet?")).content == "answer #1 to: Who wrote Hamlet?"
    assert inner.calls == 1 and plain.calls == 1


async def test_system_prompt_and_parameters_decide_a_hit(
    make_lc_cache: LCCacheFactory, stream: Stream
) -> None:
    model, inner = model_on(make_lc_cache)
    await stream(model, [SystemMessage("Answer in French."), HumanMessage(QUESTION)])
    other = await stream(model, [SystemMessage("Answer in German."), HumanMessage(QUESTION)])
    assert inner.calls == 2 and joined(other).startswith("answer #2")
    warmer = cached(StreamingEcho(temperature=0.7), model.tiered_cache)
    await stream(warmer, [SystemMessage("Answer in French."), HumanMessage(QUESTION)])
    assert warmer.model.calls == 1  # type: ignore[attr-defined]


# -- per-call options ------------------------------------------------------------------------------
async def test_bypass_refresh_and_no_store(make_lc_cache: LCCacheFactory, stream: Stream) -> None:
    model, inner = model_on(make_lc_cache)
    await stream(model, QUESTION, tiered_cache={"no_store": True})
    await stream(model, QUESTION)
    assert inner.calls == 2  # the first answer was not stored
    bypassed = await stream(model, QUESTION, tiered_cache={"bypass": True})
    assert inner.calls == 3 and joined(bypassed).startswith("answer #3")
    assert joined(await stream(model, QUESTION)).startswith("answer #3")  # it replaced #2
    refreshed = model.invoke(QUESTION, config={"metadata": {"tiered_cache": {"refresh": True}}})
    assert inner.calls == 4 and str(refreshed.content).startswith("answer #4")
    assert joined(await stream(model, QUESTION)).startswith("answer #4")
    assert inner.calls == 4


def test_options_never_reach_the_model_nor_the_key(make_lc_cache: LCCacheFactory) -> None:
    seen: list[dict[str, Any]] = []

    class Recording(StreamingEcho):
        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> Any:
            seen.append(kw)
            return super()._generate(messages, stop, run_manager, **kw)

    inner = Recording()
    model = cached(inner, make_lc_cache())
    model.invoke(QUESTION, tiered_cache={"tags": ["a"], "ttl": 60})
    list(model.stream("Who wrote Hamlet?", tiered_cache={"no_store": False}))
    assert seen == [{}, {}]
    assert model.invoke(QUESTION).content == f"answer #1 to: {QUESTION}"  # the same key
    assert inner.calls == 2


async def test_a_call_threshold_and_a_bad_option(
    make_lc_cache: LCCacheFactory, stream: Stream
) -> None:
    model, inner = model_on(make_lc_cache)
    await stream(model, QUESTION)
    strict = await stream(model, PARAPHRASE, tiered_cache={"threshold": 0.999})
    assert inner.calls == 2 and joined(strict).startswith("answer #2")
    with pytest.raises(InvalidRequestError, match="unknown"):
        await stream(model, QUESTION, tiered_cache={"bypas": True})


async def test_tags_and_ttl_per_call_then_invalidation_by_tag(
    make_lc_cache: LCCacheFactory, stream: Stream
) -> None:
    model, inner = model_on(make_lc_cache)
    await stream(model, QUESTION, tiered_cache={"tags": ["doc-7"]})
    await stream(model, "Who wrote Hamlet?", tiered_cache={"tags": ["doc-8"], "ttl": 600})
    model.tiered_cache.clear(tags=["doc-7"])  # LangChain passes clear's kwargs through
    await stream(model, QUESTION)
    await stream(model, "Who wrote Hamlet?")
    assert inner.calls == 3  # doc-7's answer went, doc-8's stayed


# -- tools and structured output -------------------------------------------------------------------
class Capital(BaseModel):
    city: str


def test_bind_tools_and_structured_output_keep_working(make_lc_cache: LCCacheFactory) -> None:
    call = {"name": "Capital", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    inner = EchoChat(tool_call=call)
    model = cached(inner, make_lc_cache())
    structured = model.with_structured_output(Capital)
    assert structured.invoke(QUESTION) == Capital(city="Paris")
    assert structured.invoke(QUESTION) == Capital(city="Paris")
    assert inner.calls == 1
    with_tools = model.bind_tools([Capital])  # no tool_choice: another call, another key
    message = with_tools.invoke(QUESTION)
    assert message.tool_calls[0]["args"] == {"city": "Paris"} and inner.calls == 2
    assert with_tools.invoke(QUESTION).tool_calls == message.tool_calls
    chunks = list(with_tools.stream(QUESTION))
    assert inner.calls == 2 and chunks[-1].tool_call_chunks[0]["name"] == "Capital"
    plain = model.invoke(QUESTION)  # no tools at all: another key again
    assert inner.calls == 3 and plain.tool_calls


def test_cached_takes_a_cache_or_settings() -> None:
    with pytest.raises(TypeError, match="not both"):
        cached(EchoChat(), TieredLLMCache(semantic=False), semantic=False)
    model = cached(EchoChat(), semantic=False)
    assert model.invoke("hi").content == "answer #1 to: hi"
    assert model.invoke("hi").response_metadata["tiered_cache"]["tier"] == "exact"
