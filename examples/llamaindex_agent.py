"""A LlamaIndex FunctionAgent on a cached LLM: which of its steps came from the cache.

    python examples/llamaindex_agent.py

Runs offline: a scripted function-calling model stands for OpenAI(...).
"""

from __future__ import annotations

import asyncio
import re

from llama_index.core.agent.workflow import AgentOutput, FunctionAgent
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from llamaindex_tiered_cache import CACHE_KEY, cached_llm


def model(messages: list[ChatMessage], **kwargs: object) -> ChatMessage:
    """Calls `divide` for the question's numbers, then states the tool's result."""
    if messages[-1].role == "tool":
        return ChatMessage(role="assistant", content=f"It is {messages[-1].content}.")
    a, b = (int(n) for n in re.findall(r"\d+", str(messages[-1].content)))
    call = ToolCallBlock(
        tool_call_id=f"call-{a}-{b}", tool_name="divide", tool_kwargs={"a": a, "b": b}
    )
    return ChatMessage(role="assistant", blocks=[call])


def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


async def main() -> None:
    llm = cached_llm(MockFunctionCallingLLM(response_generator=model))
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=divide)], llm=llm)
    for question in (
        "What is 12 divided by 3?",
        "What's 12 divided by 3?",
        "What is 3 divided by 12?",
    ):
        handler = agent.run(question)
        async for event in handler.stream_events():
            if isinstance(event, AgentOutput):  # one per step: the model's turn
                hit = event.response.additional_kwargs.get(CACHE_KEY)  # also in event.raw
                how = "model" if hit is None else f"cache ({hit['tier']}, {hit['similarity']:.3f})"
                print(f"  {question!r} step -> {how}")
        print(f"{question!r} -> {await handler}")
    stats = llm.cache.stats()
    print(f"hits: {stats['semantic_hits']} semantic; model calls: {stats['misses']}")


if __name__ == "__main__":
    asyncio.run(main())
