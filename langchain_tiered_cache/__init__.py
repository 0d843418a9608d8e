"""LangChain adapter of tiered-cache: an exact + semantic `BaseCache`, embedded or on Redis, and
`cached(model)`, a chat model that answers from it (streams included)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cache import TieredCache
from .options import call_options

if TYPE_CHECKING:
    from .chat import CachedChatModel, cached
    from .graph import GraphCache

__all__ = ["CachedChatModel", "GraphCache", "TieredCache", "cached", "call_options"]


def __getattr__(name: str) -> Any:
    # The chat-model wrapper imports LangChain's language-model stack (~0.4 s): only when used.
    if name in ("CachedChatModel", "cached"):
        from . import chat

        return getattr(chat, name)
    if name == "GraphCache":  # needs langgraph (the `langgraph` extra)
        from .graph import GraphCache

        return GraphCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
