"""CachedFunctionCallingLLM: tool calls are cached and replayed, tools join the partition, and tool
preparation and parsing are the wrapped LLM's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage, ChatResponse, ChatResponseAsyncGen
from llama_index.core.llms.callbacks import llm_chat_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool
from pydantic import PrivateAttr

from llamaindex_tiered_cache import (
    CACHE_KEY,
    CachedFunctionCallingLLM,
    CachedLLM,
    cached_llm,
)

from ..conftest import CacheFactory
from .conftest import CountingLLM
from .test_llm import APIS


class CountingToolLLM(MockFunctionCallingLLM):
    _calls: int = PrivateAttr(default=0)

    @property
    def calls(self) -> int:
        return self._calls

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self._calls += 1
        return super().chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self._calls += 1
        return super().chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        self._calls += 1
        return await super().astream_chat(messages, **kwargs)


def add(a: int = 1, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


def multiply(a: int = 2, b: int = 3) -> int:
    """Multiply two numbers."""
    return a * b


async def chat_with_tools(
    llm: CachedFunctionCallingLLM, api: str, tools: list[Any]
) -> ChatResponse:
    if api == "sync":
        return llm.chat_with_tools(tools, user_msg="Please compute.")
    return await llm.achat_with_tools(tools, user_msg="Please compute.")


@pytest.mark.parametrize("api", APIS)
async def test_tool_calls_are_cached_and_replayed(make_cache: CacheFactory, api: str) -> None:
    inner = CountingToolLLM()
    llm = CachedFunctionCallingLLM(inner, cache=make_cache(semantic=False))
    tools = [FunctionTool.from_defaults(fn=add)]

    first = await chat_with_tools(llm, api, tools)
    second = await chat_with_tools(llm, api, tools)

    assert inner.calls == 1
    assert second.message.blocks == first.message.blocks
    assert second.additional_kwargs[CACHE_KEY]["tier"] == "exact"
    calls = llm.get_tool_calls_from_response(second)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("add", {"a": 1, "b": 2})]
    assert calls == llm.get_tool_calls_from_response(first)

    await chat_with_tools(llm, api, [FunctionTool.from_defaults(fn=multiply)])
    assert inner.calls == 2


async def test_predict_and_call_runs_the_cached_tool_call(make_cache: CacheFactory) -> None:
    inner = CountingToolLLM()
    llm = CachedFunctionCallingLLM(inner, cache=make_cache(semantic=False))
    tools = [FunctionTool.from_defaults(fn=add)]

    first = llm.predict_and_call(tools, user_msg="add please")
    second = await llm.apredict_and_call(tools, user_msg="add please")

    assert inner.calls == 1
    assert str(first) == str(second) == "3"


async def test_a_function_agent_replays_its_tool_calls(make_cache: CacheFactory) -> None:
    from llama_index.core.agent.workflow import FunctionAgent

    inner = CountingToolLLM()
    llm = CachedFunctionCallingLLM(inner, cache=make_cache(semantic=False))
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=add)], llm=llm)

    first = await agent.run("Add two numbers.")
    calls_for_one_run = inner.calls
    second = await agent.run("Add two numbers.")

    assert calls_for_one_run == 2  # a tool call, then the answer after the tool result
    assert inner.calls == calls_for_one_run
    assert str(second) == str(first) == "Tool calls complete."
    assert [c.tool_name for c in second.tool_calls] == ["add"]


def test_function_calling_is_reported_only_by_the_function_calling_wrapper() -> None:
    inner = CountingToolLLM()
    assert inner.metadata.is_function_calling_model
    assert CachedFunctionCallingLLM(inner, semantic=False).metadata.is_function_calling_model
    assert not CachedLLM(llm=inner, semantic=False).metadata.is_function_calling_model

    assert type(cached_llm(inner, semantic=False)) is CachedFunctionCallingLLM
    assert type(cached_llm(CountingLLM(), semantic=False)) is CachedLLM
    assert CachedFunctionCallingLLM.class_name() == "CachedFunctionCallingLLM"
