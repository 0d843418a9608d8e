"""How a hit reaches LlamaIndex callbacks and instrumentation: a real call is reported by the
wrapped LLM, a hit by one of these endpoints (decorated like any LLM endpoint), so that each
call is reported once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

T = TypeVar("T")
# What a hit reporter hands back: set around the decorated call by `report`/`areport`.
_SERVED: ContextVar[Any] = ContextVar("tiered_cache_served")


class HitReports:
    """The hit endpoints of `CachedLLM` (a mixin of an `LLM`: the decorators read its callback
    manager). Each returns the response (or stream) being served, which it is handed."""

    @llm_chat_callback()
    def _hit_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        return _SERVED.get()

    @llm_chat_callback()
    async def _ahit_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        return _SERVED.get()

    @llm_completion_callback()
    def _hit_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        return _SERVED.get()

    @llm_completion_callback()
    async def _ahit_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        return _SERVED.get()

    @staticmethod
    def _report(reporter: Callable[..., T], served: Any, *args: Any, **kwargs: Any) -> T:
        token = _SERVED.set(served)
        try:
            return reporter(*args, **kwargs)
        finally:
            _SERVED.reset(token)

    @staticmethod
    async def _areport(
        reporter: Callable[..., Awaitable[T]], served: Any, *args: Any, **kwargs: Any
    ) -> T:
        token = _SERVED.set(served)
        try:
            return await reporter(*args, **kwargs)
        finally:
            _SERVED.reset(token)
