"""LangChain adapter of tiered-cache: an exact + semantic `BaseCache`, embedded or on Redis,
`cached(model)`, a chat model that answers from it (streams included), LangGraph's node cache
(`GraphCache`) and agent middleware (`ModelCallCache`, `ToolResultCache`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

try:
    import langchain_core  # noqa: F401
except ImportError:
    raise ModuleNotFoundError(
        "langchain_tiered_cache needs LangChain: pip install '.[langchain,embeddings]' in a clone "
        "of tiered-cache (or the wheel's [langchain,embeddings] extras)",
        name="langchain_core",
    ) from None

from .cache import TieredLLMCache
from .options import call_options

if TYPE_CHECKING:
    from .chat import CachedChatModel, cached
    from .graph import GraphCache
    from .middleware import ModelCallCache, ToolResultCache

__all__ = [
    "CachedChatModel",
    "GraphCache",
    "ModelCallCache",
    "TieredLLMCache",
    "ToolResultCache",
    "cached",
    "call_options",
]


def __getattr__(name: str) -> Any:
    if name == "TieredCache":  # the name of 0.1, kept for one minor version
        warnings.warn(
            "langchain_tiered_cache.TieredCache is renamed TieredLLMCache; "
            "the old name goes in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return TieredLLMCache
    # The chat-model wrapper imports LangChain's language-model stack (~0.4 s): only when used.
    if name in ("CachedChatModel", "cached"):
        from . import chat

        return getattr(chat, name)
    if name == "GraphCache":  # needs langgraph (the `langgraph` extra)
        from .graph import GraphCache

        return GraphCache
    if name in ("ModelCallCache", "ToolResultCache"):  # needs langchain 1.x (the `agents` extra)
        from . import middleware

        return getattr(middleware, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
