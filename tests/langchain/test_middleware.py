"""Agent middleware: `ModelCallCache` (the agent's model calls through `cached(model)`) and
`ToolResultCache` (opt-in tool results, exact, TTL per tool, never a tool with side effects),
on every backend, sync and async."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from tiered_cache import ConfigurationError

from langchain_tiered_cache import TieredLLMCache
from langchain_tiered_cache.middleware import ModelCallCache, ToolResultCache

from ..conftest import CacheFactory
from .fakes import WeatherAgentModel
from .test_agents import Runs, get_weather, streamed_messages, text_of

ANSWER = "The weather in Paris is sunny."


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def run(agent: Any, mode: str, city: str = "Paris", config: Any = None) -> list[Any]:
    value = {"messages": [HumanMessage(city)]}
    state = agent.invoke(value, config) if mode == "sync" else await agent.ainvoke(value, config)
    return list(state["messages"])


async def test_model_call_cache_answers_an_agent_s_model_calls(
    make_cache: CacheFactory, mode: str
) -> None:
    inner = WeatherAgentModel()
    middleware = ModelCallCache(TieredLLMCache(make_cache(semantic=False)))
    agent = create_agent(inner, tools=[get_weather], middleware=[middleware])
    first = await run(agent, mode)
    second = await run(agent, mode)
    assert first[-1].content == second[-1].content == ANSWER
    assert inner.calls == 2  # the second run: two hits
    assert second[1].tool_calls == first[1].tool_calls
    assert second[-1].response_metadata["tiered_cache"]["tier"] == "exact"
    assert second[-1].id != first[-1].id
    runs = Runs()  # streamed: one run a step, each token once
    items = await streamed_messages(
        agent, {"messages": [HumanMessage("Paris")]}, mode, {"callbacks": [runs]}
    )
    assert text_of([(m, meta) for m, meta in items if meta["langgraph_node"] == "model"]) == ANSWER
    assert len(runs.starts) == 2 and inner.calls == 2


class Counted:
    """Tools that count their runs."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def weather(self) -> BaseTool:
        @tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            self.runs.append(city)
            return "sunny" if "Paris" in city else "rainy"

        return get_weather

    def booking(self, **metadata: Any) -> BaseTool:
        @tool
        def book_table(city: str) -> str:
            """Books a table in a city."""
            self.runs.append(city)
            return f"booked #{len(self.runs)}"

        book_table.metadata = metadata
        return book_table


class BookingModel(WeatherAgentModel):
    """Calls `book_table` instead of `get_weather`."""

    def _answer(self, messages: Any, kwargs: dict[str, Any]) -> Any:
        message = super()._answer(messages, kwargs)
        if message.tool_calls:
            message.tool_calls[0]["name"] = "book_table"
        return message


@pytest.fixture
def tool_cache(make_cache: CacheFactory) -> Iterator[Any]:
    made: list[ToolResultCache] = []

    def make(**kwargs: Any) -> ToolResultCache:
        made.append(ToolResultCache(make_cache(semantic=False), **kwargs))
        return made[-1]

    yield make
    for cache in made:
        cache.clear()


async def test_tool_result_cache_runs_an_opted_in_tool_once(tool_cache: Any, mode: str) -> None:
    tools = Counted()
    weather = tools.weather()
    model = WeatherAgentModel()  # uncached: it asks for the tool on every run
    agent = create_agent(model, tools=[weather], middleware=[tool_cache(ttl=[(weather, 600)])])
    first = await run(agent, mode)
    second = await run(agent, mode)
    assert tools.runs == ["Paris"]  # the second run's call was answered from the cache
    assert first[-1].content == second[-1].content == ANSWER
    result = second[2]
    assert isinstance(result, ToolMessage) and result.content == "sunny"
    assert result.tool_call_id == second[1].tool_calls[0]["id"] == "call_3"  # this call's
    assert result.response_metadata["tiered_cache"]["hit"] is True
    assert (await run(agent, mode, "London"))[-1].content == "The weather in London is rainy."
    assert tools.runs == ["Paris", "London"]  # other arguments, another key


async def test_tools_not_named_or_with_side_effects_always_run(tool_cache: Any, mode: str) -> None:
    tools = Counted()
    booking = tools.booking(side_effects=True)
    with pytest.raises(ConfigurationError, match="side effects"):
        tool_cache(ttl=[(booking, 600)])
    agent = create_agent(
        BookingModel(), tools=[booking], middleware=[tool_cache(ttl={"book_table": 600})]
    )
    assert [(await run(agent, mode))[2].content for _ in range(2)] == ["booked #1", "booked #2"]
    unnamed = Counted()
    agent = create_agent(
        WeatherAgentModel(),
        tools=[unnamed.weather()],
        middleware=[tool_cache(ttl={"another_tool": 600})],
    )
    await run(agent, mode)
    await run(agent, mode)
    assert unnamed.runs == ["Paris", "Paris"]
    mcp = Counted()
    read_write = mcp.booking(readOnlyHint=False)  # MCP's annotation of a tool that writes
    agent = create_agent(
        BookingModel(), tools=[read_write], middleware=[tool_cache(ttl={"book_table": None})]
    )
    assert [(await run(agent, mode))[2].content for _ in range(2)] == ["booked #1", "booked #2"]


def test_bad_ttls_are_refused(tool_cache: Any) -> None:
    with pytest.raises(ConfigurationError, match="positive"):
        tool_cache(ttl={"get_weather": 0})
