"""LangChain adapter of tiered-cache: an exact + semantic `BaseCache`, embedded or on Redis, and
`cached(model)`, a chat model that answers from it (streams included)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import langchain_core  # noqa: F401
except ImportError:
    raise ModuleNotFoundError(
        "langchain_tiered_cache needs LangChain: pip install '.[langchain,embeddings]' in a clone "
        "of tiered-cache (or the wheel's [langchain,embeddings] extras)",
        name="langchain_core",
    ) from None

from .cache import TieredCache

if TYPE_CHECKING:
    from .chat import CachedChatModel, cached

__all__ = ["CachedChatModel", "TieredCache", "cached"]


def __getattr__(name: str) -> Any:
    # The chat-model wrapper imports LangChain's language-model stack (~0.4 s): only when used.
    if name in ("CachedChatModel", "cached"):
        from . import chat

        return getattr(chat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
