"""CachedLLM: exact hits on every endpoint, sync and async, on both backends; partitions; streams;
carried-over prompt settings; a broken cache never breaks a call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.prompts import PromptTemplate
from tiered_cache import Backends, CacheEntry, CacheHit, ConfigurationError, TieredCache

from llamaindex_tiered_cache import CACHE_KEY, CachedLLM

from ..conftest import CacheFactory
from .conftest import CountingLLM, unmarked

APIS = ["sync", "async"]


# -- helpers: one test body for the sync and the async endpoints ----------------------------------
async def complete(llm: CachedLLM, api: str, prompt: str, **kw: Any) -> CompletionResponse:
    return llm.complete(prompt, **kw) if api == "sync" else await llm.acomplete(prompt, **kw)


async def chat(
    llm: CachedLLM, api: str, messages: Sequence[ChatMessage], **kw: Any
) -> ChatResponse:
    return llm.chat(messages, **kw) if api == "sync" else await llm.achat(messages, **kw)


async def stream_complete(llm: CachedLLM, api: str, prompt: str) -> list[CompletionResponse]:
    if api == "sync":
        return list(llm.stream_complete(prompt))
    return [chunk async for chunk in await llm.astream_complete(prompt)]


async def stream_chat(
    llm: CachedLLM, api: str, messages: Sequence[ChatMessage]
) -> list[ChatResponse]:
    if api == "sync":
        return list(llm.stream_chat(messages))
    return [chunk async for chunk in await llm.astream_chat(messages)]


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def without_cache_info(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != CACHE_KEY}


class BrokenKV:
    """A store whose every call fails, as a Redis that went away does."""

    errors = ()
    error_packages = ()

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("backend down")

    get = set = delete = scan = clear = close = _fail

    async def _afail(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("backend down")

    aget = aset = adelete = ascan = aclear = _afail


def broken_cache() -> TieredCache:
    """An exact-only core cache whose entry and auxiliary stores both fail."""
    return TieredCache(backends=Backends(entries=BrokenKV(), aux=BrokenKV()), semantic=False)


# -- exact hits -----------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
async def test_repeated_complete_is_served_from_cache(make_cache: CacheFactory, api: str) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    first = await complete(llm, api, "What is 2 + 2?")
    second = await complete(llm, api, "What is 2 + 2?")

    assert inner.calls == 1
    assert first.text == "answer 1 from fake-1: What is 2 + 2?"
    assert second.text == first.text
    assert CACHE_KEY not in first.additional_kwargs
    assert second.additional_kwargs[CACHE_KEY] == {
        "tier": "exact",
        "similarity": 1.0,
        "matched_query": "What is 2 + 2?",
        "coalesced": False,
    }
    assert without_cache_info(second.additional_kwargs) == first.additional_kwargs
    # the fake reports usage on its sync path only: a hit then counts the tokens it saved
    assert llm.cache.stats()["tokens_saved"] == (7 if api == "sync" else 0)


@pytest.mark.parametrize("api", APIS)
async def test_repeated_chat_is_served_from_cache(make_cache: CacheFactory, api: str) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Name a prime number."),
    ]

    first = await chat(llm, api, messages)
    second = await chat(llm, api, messages)

    assert inner.calls == 1
    assert first.message.content.startswith("answer 1 from fake-1")  # type: ignore[union-attr]
    assert unmarked(second.message) == first.message
    assert second.additional_kwargs[CACHE_KEY]["tier"] == "exact"
    # the marker is on the message too (what an agent keeps), never on a fresh one
    assert second.message.additional_kwargs[CACHE_KEY] == second.additional_kwargs[CACHE_KEY]
    assert CACHE_KEY not in first.message.additional_kwargs


async def test_sync_and_async_share_entries(make_cache: CacheFactory) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    first = llm.complete("shared?")
    second = await llm.acomplete("shared?")
    third = llm.chat(user("shared?"))
    fourth = await llm.achat(user("shared?"))

    assert inner.calls == 2  # one for complete, one for chat: separate endpoints
    assert second.text == first.text
    assert unmarked(fourth.message) == third.message


async def test_async_endpoints_call_the_inner_async_methods(make_cache: CacheFactory) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    await llm.acomplete("a")
    await llm.achat(user("b"))
    [c async for c in await llm.astream_complete("c")]
    [c async for c in await llm.astream_chat(user("d"))]

    assert (inner.sync_calls, inner.async_calls) == (0, 4)


# -- streaming ------------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
async def test_stream_complete_passes_through_then_replays(
    make_cache: CacheFactory, api: str
) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    live = await stream_complete(llm, api, "Tell me a story")
    full = "answer 1 from fake-1: Tell me a story"
    assert [c.delta for c in live] == [
        "answer",
        " 1",
        " from",
        " fake-1:",
        " Tell",
        " me",
        " a",
        " story",
    ]
    assert live[-1].text == full

    replay = await stream_complete(llm, api, "Tell me a story")
    assert inner.calls == 1
    assert len(replay) > 3
    assert "".join(c.delta or "" for c in replay) == full
    assert replay[-1].text == full
    assert replay[-1].additional_kwargs[CACHE_KEY]["tier"] == "exact"

    # the stored response also serves the non-streaming endpoint
    assert (await complete(llm, api, "Tell me a story")).text == full
    assert inner.calls == 1


@pytest.mark.parametrize("api", APIS)
async def test_stream_chat_passes_through_then_replays(make_cache: CacheFactory, api: str) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))
    messages = user("Stream a reply")

    live = await stream_chat(llm, api, messages)
    full = live[-1].message.content
    assert full is not None and full.startswith("answer 1 from fake-1")
    assert len(live) > 1

    replay = await stream_chat(llm, api, messages)
    assert inner.calls == 1
    assert "".join(c.delta or "" for c in replay) == full
    assert len(replay) > 3  # a stream, a word a chunk, like LangChain's cached(model)
    assert [c.message.content for c in replay[:2]] == [
        replay[0].delta,
        replay[0].delta + replay[1].delta,
    ]  # type: ignore[operator]
    assert replay[-1].message.content == full
    assert replay[-1].additional_kwargs[CACHE_KEY]["tier"] == "exact"

    assert (await chat(llm, api, messages)).message.content == full
    assert inner.calls == 1


@pytest.mark.parametrize("api", APIS)
async def test_a_cached_answer_replays_on_the_streaming_endpoint(
    make_cache: CacheFactory, api: str
) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    first = await chat(llm, api, user("hello"))
    replay = await stream_chat(llm, api, user("hello"))

    assert inner.calls == 1
    assert "".join(c.delta or "" for c in replay) == first.message.content
    assert replay[-1].message.content == first.message.content


async def test_an_abandoned_stream_is_not_stored(make_cache: CacheFactory) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    stream = llm.stream_complete("long answer please")
    next(stream)
    stream.close()
    agen = await llm.astream_complete("long answer please")
    await agen.__anext__()
    await agen.aclose()
    full = list(llm.stream_complete("long answer please"))

    assert inner.calls == 3
    assert llm.complete("long answer please").text == full[-1].text
    assert inner.calls == 3


# -- partitions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
async def test_a_different_system_prompt_misses(make_cache: CacheFactory, api: str) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))

    def conversation(system: str) -> list[ChatMessage]:
        return [ChatMessage(role="system", content=system), *user("Who are you?")]

    a = await chat(llm, api, conversation("You are a pirate."))
    b = await chat(llm, api, conversation("You are a lawyer."))
    a_again = await chat(llm, api, conversation("You are a pirate."))

    assert inner.calls == 2
    assert b.message.content != a.message.content
    assert unmarked(a_again.message) == a.message


async def test_model_params_and_endpoint_are_part_of_the_key(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False)
    fast, smart = CountingLLM(model="fake-1"), CountingLLM(model="fake-2")
    llm_fast, llm_smart = CachedLLM(llm=fast, cache=cache), CachedLLM(llm=smart, cache=cache)

    assert llm_fast.complete("q").text.startswith("answer 1 from fake-1")
    assert llm_smart.complete("q").text.startswith("answer 1 from fake-2")
    llm_fast.complete("q", max_tokens=5)  # per-call kwargs: another partition
    llm_fast.complete("q", formatted=True)  # formatted prompts may be rendered differently
    llm_fast.chat(user("q"))  # chat and complete answer with different types
    assert (fast.calls, smart.calls) == (4, 1)

    hot = CountingLLM(model="fake-1", temperature=0.7)
    llm_hot = CachedLLM(llm=hot, cache=cache)
    llm_hot.complete("q")  # the inner LLM's temperature is read from its fields
    assert hot.calls == 1
    llm_fast.complete("q", timeout=30)  # output-neutral kwargs do not split the cache
    assert fast.calls == 4


async def test_tool_lists_are_part_of_the_key(make_cache: CacheFactory) -> None:
    from llama_index.core.tools import FunctionTool

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def mul(a: int, b: int) -> int:
        """Multiply two numbers."""
        return a * b

    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))
    add_tool, mul_tool = FunctionTool.from_defaults(fn=add), FunctionTool.from_defaults(fn=mul)

    llm.chat(user("compute"), tools=[add_tool])
    llm.chat(user("compute"), tools=[FunctionTool.from_defaults(fn=add)])  # same schema: hit
    llm.chat(user("compute"), tools=[mul_tool])
    assert inner.calls == 2


# -- prompt settings carried over from the inner LLM ----------------------------------------------
def test_prompt_settings_are_carried_over() -> None:
    def to_prompt(prompt: str) -> str:
        return f"<s>{prompt}</s>"

    inner = CountingLLM(system_prompt="You are terse.", completion_to_prompt=to_prompt)
    llm = CachedLLM(llm=inner, semantic=False)

    assert llm.system_prompt == "You are terse."
    assert llm.completion_to_prompt is inner.completion_to_prompt
    assert llm.messages_to_prompt is inner.messages_to_prompt
    assert llm.pydantic_program_mode == inner.pydantic_program_mode
    assert llm.metadata == inner.metadata

    answer = llm.predict(PromptTemplate("Question: {q}"), q="why?")
    assert inner.prompts == ["You are terse.\n\n<s>Question: why?</s>"]
    assert answer == "answer 1 from fake-1: You are terse. <s>Question: why?</s>"


def test_overrides_win_over_carried_settings() -> None:
    inner = CountingLLM(system_prompt="inner")
    assert CachedLLM(llm=inner, system_prompt="outer", semantic=False).system_prompt == "outer"


def test_a_different_inner_system_prompt_misses_through_predict() -> None:
    cache = TieredCache(semantic=False)
    pirate, lawyer = CountingLLM(system_prompt="Pirate."), CountingLLM(system_prompt="Lawyer.")
    template = PromptTemplate("Who are you? {x}")

    a = CachedLLM(llm=pirate, cache=cache).predict(template, x="")
    b = CachedLLM(llm=lawyer, cache=cache).predict(template, x="")
    again = CachedLLM(llm=CountingLLM(system_prompt="Pirate."), cache=cache).predict(template, x="")

    assert (pirate.calls, lawyer.calls) == (1, 1)
    assert "Pirate." in a and "Lawyer." in b
    assert again == a


# -- through LlamaIndex: Settings and a query engine ----------------------------------------------
@pytest.mark.parametrize("chat_model", [False, True], ids=["completion-model", "chat-model"])
@pytest.mark.usefixtures("restore_settings")
async def test_query_engine_repeats_are_served_from_cache(
    make_cache: CacheFactory, chat_model: bool
) -> None:
    inner = CountingLLM(chat_model=chat_model)
    Settings.llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))
    Settings.embed_model = MockEmbedding(embed_dim=8)
    index = VectorStoreIndex.from_documents(
        [Document(text="Paris is the capital of France."), Document(text="Rome is in Italy.")]
    )
    engine = index.as_query_engine()

    first = engine.query("What is the capital of France?")
    second = engine.query("What is the capital of France?")
    third = await engine.aquery("What is the capital of France?")

    assert inner.calls == 1
    assert str(first).startswith("answer 1 from fake-1")
    assert str(second) == str(first)
    assert str(third) == str(first)


# -- a broken cache never breaks the call ---------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
async def test_a_failing_backend_falls_back_to_the_inner_llm(api: str) -> None:
    inner = CountingLLM()
    cache = broken_cache()
    llm = CachedLLM(llm=inner, cache=cache)

    first = await complete(llm, api, "still there?")
    second = await complete(llm, api, "still there?")
    chatted = await chat(llm, api, user("still there?"))
    streamed = await stream_complete(llm, api, "still there?")

    assert inner.calls == 4
    assert first.text == "answer 1 from fake-1: still there?"
    assert second.text == "answer 2 from fake-1: still there?"
    assert chatted.message.content is not None
    assert streamed[-1].text == "answer 4 from fake-1: still there?"
    assert cache.stats()["errors"] > 0


@pytest.mark.parametrize("api", APIS)
async def test_a_raising_cache_falls_back_to_the_inner_llm(
    api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = CountingLLM()
    cache = TieredCache(semantic=False)
    llm = CachedLLM(llm=inner, cache=cache)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the cache")

    async def aboom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the cache")

    for name in ("lookup", "store", "request"):
        monkeypatch.setattr(cache, name, boom)
    for name in ("alookup", "astore"):
        monkeypatch.setattr(cache, name, aboom)

    assert (await complete(llm, api, "q")).text == "answer 1 from fake-1: q"
    assert (await chat(llm, api, user("q"))).message.content is not None
    assert [c.delta for c in await stream_complete(llm, api, "q")][-1] == " q"
    assert inner.calls == 3


async def test_a_corrupt_payload_is_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = CountingLLM()
    cache = TieredCache(semantic=False)
    llm = CachedLLM(llm=inner, cache=cache)
    bad = CacheHit("{not json", "exact", 1.0, "q", CacheEntry("{not json"))
    monkeypatch.setattr(cache, "lookup", lambda request: bad)

    assert llm.complete("q").text == "answer 1 from fake-1: q"
    assert llm.chat(user("q")).message.content is not None
    assert inner.calls == 2


def test_cache_and_settings_are_exclusive() -> None:
    with pytest.raises(ConfigurationError):
        CachedLLM(llm=CountingLLM(), cache=TieredCache(semantic=False), namespace="x")


def test_default_cache_is_embedded_and_configurable() -> None:
    llm = CachedLLM(llm=CountingLLM(), semantic=False, namespace="app")
    stats = llm.cache.stats()["config"]
    assert (stats["backend"], stats["namespace"], stats["semantic"]) == ("embedded", "app", False)
    assert CachedLLM.class_name() == "CachedLLM"


@settings(max_examples=60, deadline=None)
@given(
    prompt=st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
    extra=st.dictionaries(st.sampled_from(["k", "n", "ü"]), st.integers() | st.text(max_size=5)),
)
def test_any_response_round_trips_exactly(prompt: str, extra: dict[str, Any]) -> None:
    class ExtraLLM(CountingLLM):
        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            response = super().complete(prompt, formatted=formatted, **kw)
            response.additional_kwargs = dict(extra)
            return response

    inner = ExtraLLM()
    llm = CachedLLM(llm=inner, semantic=False)
    first = llm.complete(prompt)
    second = llm.complete(prompt)

    assert inner.calls == 1
    assert second.text == first.text
    assert without_cache_info(second.additional_kwargs) == extra


class SlowLLM(CountingLLM):
    """Takes 300 ms per call, so that concurrent identical calls overlap."""

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        import time

        time.sleep(0.3)
        return super().complete(prompt, formatted=formatted, **kwargs)

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        import asyncio

        await asyncio.sleep(0.3)
        return await super().acomplete(prompt, formatted=formatted, **kwargs)


def test_concurrent_identical_misses_call_the_llm_once(make_cache: CacheFactory) -> None:
    import threading

    inner = SlowLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))
    texts: list[str] = []
    threads = [
        threading.Thread(target=lambda: texts.append(llm.complete("stampede?").text))
        for _ in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.calls == 1
    assert len(texts) == 12 and len(set(texts)) == 1
    assert texts[0].startswith("answer 1 from fake-1")


async def test_concurrent_identical_async_misses_call_the_llm_once(
    make_cache: CacheFactory,
) -> None:
    import asyncio

    inner = SlowLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic=False))
    responses = await asyncio.gather(*(llm.acomplete("stampede?") for _ in range(12)))
    assert inner.calls == 1
    assert {r.text for r in responses} == {responses[0].text}


# -- per-call options (never part of the key, never passed to the LLM) ---------------------------
@pytest.mark.parametrize("api", APIS)
async def test_per_call_options(make_cache: CacheFactory, api: str) -> None:
    inner = CountingLLM()
    core = make_cache()
    llm = CachedLLM(llm=inner, cache=core)
    question = user("What is the capital of France?")
    await chat(llm, api, question, tiered_cache={"no_store": True})
    await chat(llm, api, question)
    assert inner.calls == 2  # the first answer was not stored
    assert inner.kwargs_seen and all("tiered_cache" not in k for k in inner.kwargs_seen)
    fresh = await chat(llm, api, question, tiered_cache={"bypass": True, "tags": ["doc-1"]})
    assert (
        inner.calls == 3
        and (await chat(llm, api, question)).message.content == fresh.message.content
    )
    refreshed = await chat(llm, api, question, tiered_cache={"refresh": True})
    assert inner.calls == 4 and refreshed.message.content != fresh.message.content
    strict = await chat(
        llm, api, user("What's the capital city of France?"), tiered_cache={"threshold": 0.999}
    )
    assert inner.calls == 5 and CACHE_KEY not in strict.additional_kwargs
    await complete(llm, api, "Tell me a story", tiered_cache={"tags": ["doc-2"]})
    assert llm.invalidate(tags="doc-2", dry_run=True) == 1
    assert (
        llm.invalidate(tags="doc-2") if api == "sync" else await llm.ainvalidate(tags="doc-2")
    ) == 1
    await complete(llm, api, "Tell me a story")
    assert inner.calls == 7  # the tagged completion went; the chat answers stayed
    assert (await chat(llm, api, question)).message.content == refreshed.message.content
