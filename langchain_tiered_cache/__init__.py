"""LangChain adapter of tiered-cache: an exact + semantic `BaseCache`, embedded or on Redis."""

from .cache import TieredCache
from .chat import CachedChatModel, cached

__all__ = ["CachedChatModel", "TieredCache", "cached"]
