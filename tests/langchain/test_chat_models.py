"""Chat models through the cache: `set_llm_cache` and `cache=`, invoke/ainvoke, both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.caches import BaseCache
from langchain_core.language_models import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import tool

from .conftest import Invoke, LCCacheFactory
from .fakes import EchoChat

SYSTEM = "You are a geography tutor. Answer in one sentence."
QUESTION = "What is the capital of France?"
PARAPHRASE = "What's the capital city of France?"  # cosine ~0.957 with all-MiniLM-L6-v2


def ask(question: str, system: str = SYSTEM) -> list[Any]:
    return [SystemMessage(system), HumanMessage(question)]


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "sunny"


@tool
def get_population(city: str) -> int:
    """The population of a city."""
    return 1


@pytest.fixture(params=["global", "model"])
def wire(
    request: pytest.FixtureRequest, global_cache: Callable[[BaseCache], None]
) -> Callable[[BaseCache, EchoChat], EchoChat]:
    """Connects a cache through `set_llm_cache` or through the model's `cache=`."""

    def connect(cache: BaseCache, model: EchoChat) -> EchoChat:
        if request.param == "global":
            global_cache(cache)
            return model
        return model.model_copy(update={"cache": cache})

    return connect


async def test_repeat_is_an_exact_hit(
    make_lc_cache: LCCacheFactory, invoke: Invoke, wire: Callable[[BaseCache, EchoChat], EchoChat]
) -> None:
    model = wire(make_lc_cache(), EchoChat())
    first = await invoke(model, ask(QUESTION))
    second = await invoke(model, ask(QUESTION))
    assert model.calls == 1
    assert first.content == second.content == f"answer #1 to: {QUESTION}"
    assert second.response_metadata["tiered_cache"] == {
        "hit": True,
        "tier": "exact",
        "similarity": 1.0,
        "matched_query": QUESTION,
    }
    assert second.response_metadata["model_name"] == "echo-1"
    assert second.usage_metadata["total_tokens"] == 18
    assert "tiered_cache" not in first.response_metadata


async def test_paraphrase_is_a_semantic_hit(
    make_lc_cache: LCCacheFactory, invoke: Invoke, wire: Callable[[BaseCache, EchoChat], EchoChat]
) -> None:
    cache = make_lc_cache()
    model = wire(cache, EchoChat())
    await invoke(model, ask(QUESTION))
    answer = await invoke(model, ask(PARAPHRASE))
    assert model.calls == 1
    assert answer.content == f"answer #1 to: {QUESTION}"
    meta = answer.response_metadata["tiered_cache"]
    assert meta["tier"] == "semantic" and meta["matched_query"] == QUESTION
    assert 0.9 <= meta["similarity"] < 1.0
    assert cache.stats()["semantic_hits"] == 1
    assert cache.stats()["tokens_saved"] == 18


def sibling(base: EchoChat, **fields: Any) -> EchoChat:
    """A new model with other fields and the same cache and call log.

    Not `model_copy(update=...)`: LangChain caches a model's serialization on first use
    (`_serialized` is a cached_property), so a copy made afterwards keeps the old llm_string.
    """
    other = EchoChat(cache=base.cache, **fields)
    other._calls = base._calls
    return other


Change = Callable[[EchoChat], tuple[Runnable[Any, Any], list[Any], dict[str, Any]]]
CHANGES: dict[str, Change] = {
    "system prompt": lambda m: (m, ask(QUESTION, system="You are a pirate. Answer in rhyme."), {}),
    "temperature field": lambda m: (sibling(m, temperature=0.7), ask(QUESTION), {}),
    "temperature kwarg": lambda m: (m, ask(QUESTION), {"temperature": 0.7}),
    "model": lambda m: (sibling(m, model="echo-2"), ask(QUESTION), {}),
    "stop": lambda m: (m, ask(QUESTION), {"stop": ["\n"]}),
    "bound tool": lambda m: (m.bind_tools([get_weather]), ask(QUESTION), {}),
    "earlier turn": lambda m: (
        m,
        [
            SystemMessage(SYSTEM),
            HumanMessage("Answer as a pirate would."),
            AIMessage("Arr."),
            HumanMessage(QUESTION),
        ],
        {},
    ),
}


@pytest.mark.parametrize("second", ["same question", "paraphrase"])
@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_changed_call_misses(
    make_lc_cache: LCCacheFactory, invoke: Invoke, change: str, second: str
) -> None:
    base = EchoChat(cache=make_lc_cache())
    await invoke(base, ask(QUESTION))
    changed, messages, kwargs = CHANGES[change](base)
    if second == "paraphrase":
        messages = [*messages[:-1], HumanMessage(PARAPHRASE)]
    answer = await invoke(changed, messages, **kwargs)
    assert "tiered_cache" not in answer.response_metadata
    assert answer.content == f"answer #2 to: {messages[-1].text}"
    assert base.calls == 2


async def test_same_bound_tools_hit_and_other_tools_miss(
    make_lc_cache: LCCacheFactory, invoke: Invoke
) -> None:
    model = EchoChat(cache=make_lc_cache())
    weather = model.bind_tools([get_weather])
    first = await invoke(weather, ask(QUESTION))
    again = await invoke(model.bind_tools([get_weather]), ask(QUESTION))
    assert model.calls == 1 and again.content == first.content
    other = await invoke(model.bind_tools([get_population]), ask(QUESTION))
    both = await invoke(model.bind_tools([get_weather, get_population]), ask(QUESTION))
    plain = await invoke(model, ask(QUESTION))
    assert model.calls == 4
    assert [other.content, both.content, plain.content] == [
        f"answer #{n} to: {QUESTION}" for n in (2, 3, 4)
    ]


async def test_tool_calls_come_back_intact(make_lc_cache: LCCacheFactory, invoke: Invoke) -> None:
    call = {
        "name": "get_weather",
        "args": {"city": "Paris"},
        "id": "call_abc123",
        "type": "tool_call",
    }
    model = EchoChat(cache=make_lc_cache(), tool_call=call).bind_tools([get_weather])
    first = await invoke(model, [HumanMessage("Weather in Paris?")])
    second = await invoke(model, [HumanMessage("Weather in Paris?")])
    assert isinstance(second, AIMessage)
    assert second.tool_calls == first.tool_calls == [call]
    assert second.content == ""
    assert second.usage_metadata is not None
    assert second.usage_metadata["total_tokens"] == 18
    assert second.usage_metadata.get("total_cost") == 0  # LangChain zeroes costs of hits
    assert second.response_metadata["tiered_cache"]["tier"] == "exact"


async def test_tool_conversation_generic_fake(
    make_lc_cache: LCCacheFactory, invoke: Invoke
) -> None:
    """A non-serializable model (llm_string without JSON) and a tool round in the history."""
    produced: list[AIMessage] = []

    def replies() -> Any:
        for text in ("It is sunny in Paris.", "UNEXPECTED SECOND CALL"):
            produced.append(AIMessage(text))
            yield produced[-1]

    model = GenericFakeChatModel(messages=replies(), cache=make_lc_cache())
    history = [
        HumanMessage("Weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}]),
        ToolMessage("sunny", tool_call_id="c1"),
    ]
    first = await invoke(model, history)
    second = await invoke(model, history)
    assert len(produced) == 1
    assert first.content == second.content == "It is sunny in Paris."
    # An agent's later step: its question is the user turn's, the tool round is exact.
    assert second.response_metadata["tiered_cache"]["tier"] == "exact"
    assert second.response_metadata["tiered_cache"]["matched_query"] == "Weather in Paris?"
    other = [*history[:-1], ToolMessage("rain", tool_call_id="c1")]
    assert (await invoke(model, other)).content == "UNEXPECTED SECOND CALL"


async def test_fake_list_chat_model(make_lc_cache: LCCacheFactory, invoke: Invoke) -> None:
    model = FakeListChatModel(responses=["Paris.", "NOT CACHED"], cache=make_lc_cache())
    assert (await invoke(model, QUESTION)).content == "Paris."
    assert (await invoke(model, QUESTION)).content == "Paris."
    assert (await invoke(model, PARAPHRASE)).content == "Paris."
    assert (await invoke(model, "Name three primary colours.")).content == "NOT CACHED"


async def test_text_llm(make_lc_cache: LCCacheFactory, invoke: Invoke) -> None:
    cache = make_lc_cache()
    llm = FakeListLLM(responses=["Paris.", "NOT CACHED"], cache=cache)
    assert await invoke(llm, QUESTION) == "Paris."
    assert await invoke(llm, QUESTION) == "Paris."
    assert await invoke(llm, "Name three primary colours.") == "NOT CACHED"
    assert cache.stats()["exact_hits"] == 1


async def test_batches_are_cached_per_prompt(make_lc_cache: LCCacheFactory) -> None:
    model = FakeListChatModel(responses=["one", "two", "three", "four"], cache=make_lc_cache())
    first = await model.agenerate([[HumanMessage("a")], [HumanMessage("b")]])
    second = model.generate([[HumanMessage("a")], [HumanMessage("b")]])
    answers = [g[0].text for g in first.generations]  # concurrent: either order
    assert sorted(answers) == ["one", "two"]
    assert [g[0].text for g in second.generations] == answers
    assert model.invoke("c").content == "three"


def test_cache_false_bypasses(make_lc_cache: LCCacheFactory, global_cache: Any) -> None:
    global_cache(make_lc_cache())
    model = EchoChat(cache=False)
    model.invoke(ask(QUESTION))
    model.invoke(ask(QUESTION))
    assert model.calls == 2
