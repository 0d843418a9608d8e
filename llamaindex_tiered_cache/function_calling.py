"""CachedFunctionCallingLLM: `CachedLLM` for function-calling LLMs, and `cached_llm`, which
picks the wrapper an LLM needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.bridge.pydantic import Field, SerializeAsAny
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from tiered_cache import TieredCache

from .llm import CachedLLM

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool


class CachedFunctionCallingLLM(CachedLLM, FunctionCallingLLM):
    """CachedLLM for function-calling LLMs (agents, structured output): tools join the partition,
    and tool preparation and parsing are the wrapped LLM's."""

    llm: SerializeAsAny[FunctionCallingLLM] = Field(
        description="The wrapped function-calling LLM, called on cache misses."
    )

    def __init__(
        self, llm: FunctionCallingLLM, cache: TieredCache | None = None, **settings: Any
    ) -> None:
        super().__init__(llm, cache, **settings)

    @classmethod
    def class_name(cls) -> str:
        return "CachedFunctionCallingLLM"

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return self.llm._prepare_chat_with_tools_compat(
            tools,
            user_msg=user_msg,
            chat_history=chat_history,
            verbose=verbose,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            tool_required=tool_required,
            **kwargs,
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return self.llm._validate_chat_with_tools_response(
            response, tools, allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs
        )

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return self.llm.get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )


def cached_llm(llm: LLM, cache: TieredCache | None = None, **settings: Any) -> CachedLLM:
    """`CachedFunctionCallingLLM` for a function-calling LLM, else `CachedLLM`."""
    if isinstance(llm, FunctionCallingLLM):
        return CachedFunctionCallingLLM(llm, cache, **settings)
    return CachedLLM(llm, cache, **settings)
