"""What identifies the wrapped LLM (its configuration, not its state), events reported once per
call, and responses that would not survive the cache are never stored."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.llms import CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import BaseModel, Field

from llamaindex_tiered_cache import CACHE_KEY, CachedLLM

from ..conftest import CacheFactory
from .conftest import CountingLLM

APIS = ["sync", "async"]


class StatefulLLM(CustomLLM):
    """A custom LLM that keeps its call log and a counter in plain fields, as users write them."""

    model: str = "stateful-1"
    persona: str = "terse"
    history: list[str] = Field(default_factory=list)
    counter: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.counter += 1
        self.history = [*self.history, prompt]
        return CompletionResponse(text=f"answer {self.counter} ({self.persona}): {prompt}")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


async def complete(llm: CachedLLM, api: str, prompt: str) -> CompletionResponse:
    return llm.complete(prompt) if api == "sync" else await llm.acomplete(prompt)


@pytest.mark.parametrize("api", APIS)
async def test_a_stateful_llm_gets_exact_and_semantic_hits(
    make_cache: CacheFactory, api: str
) -> None:
    inner = StatefulLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())
    first = await complete(llm, api, "What is the capital of France?")
    again = await complete(llm, api, "What is the capital of France?")
    para = await complete(llm, api, "What's the capital city of France?")
    assert inner.counter == 1
    expected = "answer 1 (terse): What is the capital of France?"
    assert first.text == again.text == para.text == expected
    assert again.additional_kwargs[CACHE_KEY]["tier"] == "exact"
    assert para.additional_kwargs[CACHE_KEY]["tier"] == "semantic"


async def test_a_setting_changed_on_a_live_llm_misses(make_cache: CacheFactory) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())
    llm.complete("What is the capital of France?")
    inner.temperature = 0.7  # a declared setting: read on every call
    hot = llm.complete("What is the capital of France?")
    assert inner.calls == 2 and CACHE_KEY not in hot.additional_kwargs
    inner.temperature = 0.0
    back = llm.complete("What is the capital of France?")
    assert inner.calls == 2 and back.additional_kwargs[CACHE_KEY]["tier"] == "exact"


async def test_configuration_fields_are_read_when_wrapped(make_cache: CacheFactory) -> None:
    cache = make_cache()
    terse = CachedLLM(llm=StatefulLLM(persona="terse"), cache=cache)
    chatty_inner = StatefulLLM(persona="chatty")
    chatty = CachedLLM(llm=chatty_inner, cache=cache)
    terse.complete("What is the capital of France?")
    answer = chatty.complete("What is the capital of France?")
    assert chatty_inner.counter == 1 and answer.text.startswith("answer 1 (chatty)")


def counted(*llms: Any) -> TokenCountingHandler:
    counter = TokenCountingHandler(tokenizer=lambda text: text.split())
    manager = CallbackManager([counter])
    for llm in llms:
        llm.callback_manager = manager
    return counter


async def calls(llm: Any, api: str, messages: list[ChatMessage], prompt: str) -> None:
    if api == "sync":
        llm.chat(messages)
        llm.complete(prompt)
    else:
        await llm.achat(messages)
        await llm.acomplete(prompt)


@pytest.mark.parametrize("api", APIS)
async def test_events_fire_once_per_real_call_and_once_per_hit(
    make_cache: CacheFactory, api: str
) -> None:
    messages = [ChatMessage(role="user", content="What is the capital of France?")]
    prompt = "What is the capital of Spain?"
    alone = CountingLLM(chat_model=True)
    baseline = counted(alone)
    await calls(alone, api, messages, prompt)  # what the LLM itself reports for these calls

    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache())
    counter = counted(llm, inner)
    await calls(llm, api, messages, prompt)
    assert len(counter.llm_token_counts) == len(baseline.llm_token_counts)  # misses: no extra
    if api == "sync":
        hit = llm.chat(messages)
        chunks = list(llm.stream_complete(prompt))
    else:
        hit = await llm.achat(messages)
        chunks = [c async for c in await llm.astream_complete(prompt)]
    assert inner.calls == 2
    assert hit.additional_kwargs[CACHE_KEY]["tier"] == "exact"
    assert chunks[-1].additional_kwargs[CACHE_KEY]["tier"] == "exact"
    hits = counter.llm_token_counts[len(baseline.llm_token_counts) :]
    assert len(hits) == 2  # one event per hit
    assert hits[0].completion == str(hit.message)  # the served answer


class ToolCall(BaseModel):
    """A provider object, read by attribute (as OpenAI's tool calls are)."""

    id: str
    name: str


class ObjectsLLM(CountingLLM):
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self._sync_calls += 1
        message = ChatMessage(
            role="assistant",
            content="calling",
            additional_kwargs={"tool_calls": [ToolCall(id="c1", name="search")]},
        )
        return ChatResponse(message=message)


def test_provider_objects_are_never_stored_as_dicts(
    make_cache: CacheFactory, caplog: pytest.LogCaptureFixture
) -> None:
    inner = ObjectsLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache())
    messages = [ChatMessage(role="user", content="Find the weather in Paris.")]
    with caplog.at_level(logging.WARNING, logger="llamaindex_tiered_cache"):
        first = llm.chat(messages)
    second = llm.chat(messages)
    assert inner.calls == 2  # not cached: a hit would hand out dicts
    assert second.message.additional_kwargs["tool_calls"][0].name == "search"
    assert first.message.additional_kwargs["tool_calls"][0].id == "c1"
    assert "message.additional_kwargs['tool_calls'][0] (ToolCall) is an object" in caplog.text


async def test_extra_fields_of_the_final_turn_decide_a_hit(make_cache: CacheFactory) -> None:
    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache())

    def turn(locale: str) -> list[ChatMessage]:
        return [
            ChatMessage(
                role="user", content="What's the date format?", additional_kwargs={"locale": locale}
            )
        ]

    llm.chat(turn("en-US"))
    other = llm.chat(turn("de-DE"))
    assert inner.calls == 2 and CACHE_KEY not in other.additional_kwargs
    same = llm.chat(turn("en-US"))
    assert inner.calls == 2 and same.additional_kwargs[CACHE_KEY]["tier"] == "exact"
