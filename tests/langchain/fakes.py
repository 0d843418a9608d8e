"""Fake chat models whose configuration reaches `llm_string` like a real provider's does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr, SecretStr


class EchoChat(BaseChatModel):
    """Answers `answer #<n> to: <last message>` and counts its calls.

    Serializable like provider models, so `model`, `temperature` and `api_key` appear in
    `llm_string` (the key as a secret marker), and `bind_tools` puts tools in the call kwargs.
    """

    model: str = "echo-1"
    temperature: float = 0.0
    api_key: SecretStr | None = None
    tool_call: dict[str, Any] | None = None
    """When set, every answer is this tool call instead of text."""

    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "ECHO_API_KEY"}

    @property
    def _llm_type(self) -> str:
        return "echo-chat"

    @property
    def calls(self) -> int:
        return len(self._calls)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._calls.append(messages)
        usage = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
        if self.tool_call is not None:
            message = AIMessage(content="", tool_calls=[self.tool_call], usage_metadata=usage)
        else:
            message = AIMessage(
                content=f"answer #{self.calls} to: {messages[-1].text}",
                usage_metadata=usage,
                response_metadata={"model_name": self.model, "finish_reason": "stop"},
            )
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": "stop"})]
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)


class StreamingEcho(EchoChat):
    """EchoChat that streams its answer a word a chunk, its usage on the last chunk (as
    providers do), and counts its streams too."""

    def _pieces(self, messages: list[BaseMessage]) -> list[AIMessageChunk]:
        message = self._generate(messages).generations[0].message
        words = str(message.content).split(" ")
        chunks = [
            AIMessageChunk(content=w + (" " if i < len(words) - 1 else ""))
            for i, w in enumerate(words)
        ]
        chunks[-1] = AIMessageChunk(
            content=chunks[-1].content,
            usage_metadata=message.usage_metadata,
            response_metadata={"model_name": self.model, "finish_reason": "stop"},
        )
        return chunks

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._pieces(messages):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._pieces(messages):
            yield ChatGenerationChunk(message=chunk)


class WeatherAgentModel(EchoChat):
    """A scripted tool-calling model for agents: asked about a city, it calls `get_weather`;
    given the tool's result, it answers `The weather in <city> is <result>.`. It streams its text
    a word a chunk, counts its calls and records the keywords each call received."""

    model: str = "weather-1"
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def kwargs_seen(self) -> list[dict[str, Any]]:
        return self._kwargs

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self._calls.append(messages)
        self._kwargs.append(dict(kwargs))
        usage = {"input_tokens": 20, "output_tokens": 9, "total_tokens": 29}
        last = messages[-1]
        if isinstance(last, ToolMessage):
            asked = next(m for m in reversed(messages) if isinstance(m, AIMessage))
            city = asked.tool_calls[0]["args"]["city"]
            return AIMessage(
                content=f"The weather in {city} is {last.text}.",
                usage_metadata=usage,
                response_metadata={"model_name": self.model, "finish_reason": "stop"},
            )
        call = {
            "name": "get_weather",
            "args": {"city": last.text},
            "id": f"call_{self.calls}",
            "type": "tool_call",
        }
        return AIMessage(content="", tool_calls=[call], usage_metadata=usage)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages, kwargs))])

    def _chunks(self, message: AIMessage) -> list[AIMessageChunk]:
        if message.tool_calls:
            call = message.tool_calls[0]
            piece = tool_call_chunk(
                name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=0
            )
            return [AIMessageChunk(content="", tool_call_chunks=[piece])]
        words = str(message.content).split(" ")
        chunks = [AIMessageChunk(content=w + " ") for w in words[:-1]]
        return [*chunks, AIMessageChunk(content=words[-1], usage_metadata=message.usage_metadata)]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._answer(messages, kwargs)):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._answer(messages, kwargs)):
            yield ChatGenerationChunk(message=chunk)
