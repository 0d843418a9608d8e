"""A LlamaIndex call as the core's `CacheRequest`: its messages (or prompt), the wrapped LLM's
identity and settings, the call's keywords and tools, and the endpoint it came through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms.llm import LLM
from tiered_cache import CacheRequest, TieredCache

from .identity import call_params, describe_tools, live_settings, model_identity
from .messages import messages_to_dicts, prompt_to_dicts

# Partition entries of our own; the dot keeps them from ever clashing with a call keyword.
_ENDPOINT = "llamaindex.endpoint"
_FORMATTED = "llamaindex.formatted"


def build(
    cache: TieredCache,
    llm: LLM,
    settings: Mapping[str, Any],
    messages: list[dict[str, Any]],
    kwargs: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> CacheRequest:
    """The request of a call to `llm` (configured with `settings`, read once when wrapped)."""
    params = {
        **settings,
        **live_settings(llm),
        **call_params(kwargs, exclude=("tools",)),
        **extra,
    }
    return cache.request(
        messages,
        model=model_identity(llm),
        params=params,
        tools=describe_tools(kwargs.get("tools")),
    )


def chat_request(
    cache: TieredCache,
    llm: LLM,
    settings: Mapping[str, Any],
    messages: Sequence[ChatMessage],
    kwargs: Mapping[str, Any],
) -> CacheRequest:
    """The request of a `chat` call (`stream_chat`, `achat`, ...)."""
    dicts = messages_to_dicts(messages)
    return build(cache, llm, settings, dicts, kwargs, {_ENDPOINT: "chat"})


def complete_request(
    cache: TieredCache,
    llm: LLM,
    settings: Mapping[str, Any],
    prompt: str,
    formatted: bool,
    kwargs: Mapping[str, Any],
) -> CacheRequest:
    """The request of a `complete` call (`stream_complete`, `acomplete`, ...)."""
    extra = {_ENDPOINT: "complete", _FORMATTED: formatted}
    return build(cache, llm, settings, prompt_to_dicts(prompt), kwargs, extra)
