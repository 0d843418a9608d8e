"""Fakes for the LlamaIndex adapter tests: a counting LLM, a counting embedding model, and Settings
restored after each test."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, Generator, Iterator, Sequence
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import PrivateAttr


class CountingLLM(CustomLLM):
    """Answers `answer <n> from <model>: <end of prompt>`; counts sync and async calls apart.

    The counters are private attributes: fields would enter the cache partition.
    """

    model: str = "fake-1"
    temperature: float = 0.0
    chat_model: bool = False
    _sync_calls: int = PrivateAttr(default=0)
    _async_calls: int = PrivateAttr(default=0)
    _prompts: list[str] = PrivateAttr(default_factory=list)
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=self.chat_model)

    @property
    def calls(self) -> int:
        return self._sync_calls + self._async_calls

    @property
    def sync_calls(self) -> int:
        return self._sync_calls

    @property
    def async_calls(self) -> int:
        return self._async_calls

    @property
    def prompts(self) -> list[str]:
        return self._prompts

    @property
    def kwargs_seen(self) -> list[dict[str, Any]]:
        """The keywords of each complete/acomplete/achat call (chat calls come through
        complete)."""
        return self._kwargs

    def _answer(self, prompt: str) -> str:
        self._prompts.append(prompt)
        n = self.calls
        return f"answer {n} from {self.model}: {' '.join(prompt.split())[-60:]}"

    @staticmethod
    def _words(text: str) -> Iterator[tuple[str, str]]:
        """(cumulative text, delta) pairs, word by word."""
        acc = ""
        for i, word in enumerate(text.split(" ")):
            delta = word if i == 0 else " " + word
            acc += delta
            yield acc, delta

    def _chat_prompt(self, messages: Sequence[ChatMessage]) -> str:
        assert self.messages_to_prompt is not None
        return self.messages_to_prompt(messages)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._sync_calls += 1
        self._kwargs.append(kwargs)
        return CompletionResponse(text=self._answer(prompt), additional_kwargs={"total_tokens": 7})

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        self._sync_calls += 1
        text = self._answer(prompt)

        def gen() -> Generator[CompletionResponse, None, None]:
            for acc, delta in self._words(text):
                yield CompletionResponse(text=acc, delta=delta)

        return gen()

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        self._async_calls += 1
        self._kwargs.append(kwargs)
        return CompletionResponse(text=self._answer(prompt))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        self._async_calls += 1
        text = self._answer(prompt)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            for acc, delta in self._words(text):
                yield CompletionResponse(text=acc, delta=delta)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self._async_calls += 1
        self._kwargs.append(kwargs)
        text = self._answer(self._chat_prompt(messages))
        return ChatResponse(message=ChatMessage(role="assistant", content=text))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        self._async_calls += 1
        text = self._answer(self._chat_prompt(messages))

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            for acc, delta in self._words(text):
                yield ChatResponse(message=ChatMessage(role="assistant", content=acc), delta=delta)

        return gen()

    # CustomLLM's chat/stream_chat go through complete/stream_complete: counted there.
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return super().chat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return super().stream_chat(messages, **kwargs)


def unmarked(message: ChatMessage) -> ChatMessage:
    """A replayed message without the hit marker it carries (to compare with a fresh one)."""
    from llamaindex_tiered_cache import CACHE_KEY

    kept = {k: v for k, v in message.additional_kwargs.items() if k != CACHE_KEY}
    return message.model_copy(update={"additional_kwargs": kept})


def fake_vector(*parts: str, dim: int = 8) -> list[float]:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return [b / 255.0 for b in digest[:dim]]


class CountingEmbedding(BaseEmbedding):
    """Vectors derived from (model name, kind, text); records every batch it computes."""

    embed_batch_size: int = 1000
    _batches: list[list[str]] = PrivateAttr(default_factory=list)
    _queries: list[str] = PrivateAttr(default_factory=list)
    _async_batches: list[list[str]] = PrivateAttr(default_factory=list)

    @property
    def batches(self) -> list[list[str]]:
        return self._batches + self._async_batches

    @property
    def async_batches(self) -> list[list[str]]:
        return self._async_batches

    @property
    def queries(self) -> list[str]:
        return self._queries

    @property
    def texts(self) -> list[str]:
        return [t for b in self.batches for t in b]

    def _get_query_embedding(self, query: str) -> list[float]:
        self._queries.append(query)
        return fake_vector(self.model_name, "query", query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        self._queries.append(query)
        return fake_vector(self.model_name, "query", query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._batches.append(list(texts))
        return [fake_vector(self.model_name, "text", t) for t in texts]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._async_batches.append(list(texts))
        return [fake_vector(self.model_name, "text", t) for t in texts]


@pytest.fixture
def restore_settings() -> Iterator[None]:
    """Tests set Settings.llm / Settings.embed_model; put the previous ones back."""
    saved = (Settings._llm, Settings._embed_model)
    try:
        yield
    finally:
        Settings._llm, Settings._embed_model = saved
