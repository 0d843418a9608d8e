"""LlamaIndex agents on a cached LLM: swapped operands reach the model and the tool gets the right
arguments; concurrent identical streaming runs (FunctionAgent, ReActAgent) make one model call
per step; and a run shows which of its steps came from the cache (on the step's message, its raw
output, and as an instrumentation event)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import MessageRole, ToolCallBlock
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_chat_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool
from pydantic import PrivateAttr

from llamaindex_tiered_cache import CACHE_KEY, CachedFunctionCallingLLM, CachedLLM
from llamaindex_tiered_cache.events import TieredCacheLookupEvent

from ..conftest import CacheFactory
from ..flights import Joins

_OPERATION = re.compile(r"(\d+) (minus|divided by) (\d+)")
_TOOLS = {"minus": "subtract", "divided by": "divide"}


def script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """A function-calling model: the tool call a question asks for, then the tool's result."""
    last = messages[-1]
    if last.role == MessageRole.TOOL:
        return ChatMessage(role="assistant", content=f"The answer is {last.content}.")
    found = _OPERATION.search(str(last.content))
    assert found, f"no operation in {last.content!r}"
    a, op, b = int(found[1]), found[2], int(found[3])
    name = _TOOLS[op]
    call = ToolCallBlock(
        tool_call_id=f"call-{name}-{a}-{b}", tool_name=name, tool_kwargs={"a": a, "b": b}
    )
    return ChatMessage(role="assistant", blocks=[call])


class ScriptedToolLLM(MockFunctionCallingLLM):
    """Counts its calls; `gate` (awaited before each answer) can hold an answer back."""

    _calls: int = PrivateAttr(default=0)
    _gate: Callable[[int], Awaitable[None]] | None = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(response_generator=script, **kwargs)

    @property
    def calls(self) -> int:
        return self._calls

    async def _counted(self) -> None:
        self._calls += 1
        if self._gate is not None:
            await self._gate(self._calls)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        await self._counted()
        return super().chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        await self._counted()
        return await super().astream_chat(messages, **kwargs)


class Calculator:
    """The agent's tools; records the arguments of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def tools(self) -> list[FunctionTool]:
        def subtract(a: int, b: int) -> int:
            """Subtract b from a."""
            with self._lock:
                self.calls.append(("subtract", a, b))
            return a - b

        def divide(a: int, b: int) -> float:
            """Divide a by b."""
            with self._lock:
                self.calls.append(("divide", a, b))
            return a / b

        return [FunctionTool.from_defaults(fn=subtract), FunctionTool.from_defaults(fn=divide)]


async def run(agent: FunctionAgent, question: str) -> tuple[str, list[AgentOutput]]:
    """The agent's final answer and the output of each of its steps."""
    handler = agent.run(question)
    steps = [ev async for ev in handler.stream_events() if isinstance(ev, AgentOutput)]
    return str(await handler), steps


def marker_of(step: AgentOutput) -> dict[str, Any] | None:
    """What the step says about the cache: its message's marker, which its raw output repeats."""
    marker = step.response.additional_kwargs.get(CACHE_KEY)
    raw = step.raw.get(CACHE_KEY) if isinstance(step.raw, dict) else None
    assert marker == raw
    return marker


@pytest.mark.parametrize("streaming", [True, False])
async def test_swapped_operands_reach_the_model_and_the_tool_gets_them(
    make_cache: CacheFactory, streaming: bool
) -> None:
    inner = ScriptedToolLLM()
    llm = CachedFunctionCallingLLM(inner, cache=make_cache())  # the real embedding model
    calc = Calculator()
    agent = FunctionAgent(tools=calc.tools(), llm=llm, streaming=streaming)

    first, _ = await run(agent, "What is 10 minus 4?")
    swapped, steps = await run(agent, "What is 4 minus 10?")
    divided, _ = await run(agent, "What is 12 divided by 3?")
    reversed_division, _ = await run(agent, "What is 3 divided by 12?")

    assert (first, swapped) == ("The answer is 6.", "The answer is -6.")
    assert (divided, reversed_division) == ("The answer is 4.0.", "The answer is 0.25.")
    assert calc.calls == [
        ("subtract", 10, 4),
        ("subtract", 4, 10),
        ("divide", 12, 3),
        ("divide", 3, 12),
    ]
    assert inner.calls == 8  # two steps a run, each at the model
    assert [marker_of(s) for s in steps] == [None, None]


async def test_eight_concurrent_streaming_runs_make_one_model_call_per_step(
    make_cache: CacheFactory,
) -> None:
    runs = 8
    cache = make_cache(semantic=False)
    joins = Joins(cache)
    inner = ScriptedToolLLM()

    async def every_run_waits(call: int) -> None:
        # The k-th model call is the k-th step's: hold it until all runs have joined its flight.
        await joins.await_for(runs * call)

    inner._gate = every_run_waits
    llm = CachedFunctionCallingLLM(inner, cache=cache)
    calc = Calculator()
    agent = FunctionAgent(tools=calc.tools(), llm=llm)  # streaming, as by default
    assert agent.streaming

    results = await asyncio.gather(*(run(agent, "What is 12 divided by 3?") for _ in range(runs)))

    assert inner.calls == 2  # one a step (it was 16 before: every run called the model)
    assert [answer for answer, _ in results] == ["The answer is 4.0."] * runs
    assert calc.calls == [("divide", 12, 3)] * runs  # tools run in every run, with its arguments
    tiers = sorted(
        "fresh"
        if (m := marker_of(step)) is None
        else ("coalesced" if m["coalesced"] else m["tier"])
        for _, steps in results
        for step in steps
    )
    assert tiers == ["coalesced"] * 14 + ["fresh"] * 2
    stats = cache.stats()
    assert (stats["misses"], stats["coalesced_hits"]) == (2, 14)
    assert stats["hit_rate"] == pytest.approx(14 / 16)


class ScriptedReActLLM(CustomLLM):
    """A ReAct model: an Action for the question's operation, then the Answer once observed."""

    _calls: int = PrivateAttr(default=0)
    _gate: Callable[[int], Awaitable[None]] | None = PrivateAttr(default=None)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="react-script", is_chat_model=True)

    @staticmethod
    def _text(messages: Sequence[ChatMessage]) -> str:
        last = str(messages[-1].content)
        if last.startswith("Observation:"):
            return f"Thought: I can answer.\nAnswer: The answer is {last.split(':', 1)[1].strip()}."
        found = _OPERATION.search(last)
        assert found, f"no operation in {last!r}"
        args = f'{{"a": {found[1]}, "b": {found[3]}}}'
        return f"Thought: I need a tool.\nAction: {_TOOLS[found[2]]}\nAction Input: {args}"

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError("the agent chats")

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        raise NotImplementedError("the agent chats")

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        self._calls += 1
        if self._gate is not None:
            await self._gate(self._calls)
        text = self._text(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=text)

        return gen()


async def test_eight_concurrent_react_runs_make_one_model_call_per_step(
    make_cache: CacheFactory,
) -> None:
    runs = 8
    cache = make_cache(semantic=False)
    joins = Joins(cache)
    inner = ScriptedReActLLM()

    async def every_run_waits(call: int) -> None:
        await joins.await_for(runs * call)

    inner._gate = every_run_waits
    calc = Calculator()
    agent = ReActAgent(tools=calc.tools(), llm=CachedLLM(llm=inner, cache=cache))

    results = await asyncio.gather(*(run(agent, "What is 10 minus 4?") for _ in range(runs)))

    assert inner._calls == 2  # a step to act, a step to answer
    assert [answer for answer, _ in results] == ["The answer is 6."] * runs
    assert calc.calls == [("subtract", 10, 4)] * runs
    stats = cache.stats()
    assert (stats["misses"], stats["coalesced_hits"]) == (2, 14)


class Recorder(BaseEventHandler):
    events: list[TieredCacheLookupEvent]

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, TieredCacheLookupEvent):
            self.events.append(event)


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_run_shows_which_steps_came_from_the_cache(
    make_cache: CacheFactory, streaming: bool
) -> None:
    inner = ScriptedToolLLM()
    llm = CachedFunctionCallingLLM(inner, cache=make_cache())
    calc = Calculator()
    agent = FunctionAgent(tools=calc.tools(), llm=llm, streaming=streaming)
    recorder = Recorder(events=[])
    root = get_dispatcher()
    root.add_event_handler(recorder)
    try:
        await run(agent, "What is 12 divided by 3?")
        answer, steps = await run(agent, "What's 12 divided by 3?")
    finally:
        root.event_handlers.remove(recorder)

    assert answer == "The answer is 4.0."
    assert calc.calls == [("divide", 12, 3)] * 2
    assert inner.calls == 2  # both steps of the paraphrase came from the cache
    first_step, second_step = (marker_of(s) for s in steps)
    assert first_step is not None and second_step is not None
    assert (first_step["tier"], first_step["matched_query"]) == (
        "semantic",
        "What is 12 divided by 3?",
    )
    assert 0.9 < first_step["similarity"] < 1.0
    # After the tool's result: the question by meaning, the tool call and result exact.
    assert (second_step["tier"], second_step["matched_query"]) == (
        "semantic",
        "What is 12 divided by 3?",
    )
    assert [(e.tier, e.matched_query) for e in recorder.events] == [
        ("miss", None),
        ("miss", None),
        ("semantic", "What is 12 divided by 3?"),
        ("semantic", "What is 12 divided by 3?"),
    ]
    assert recorder.events[2].similarity == first_step["similarity"]
