"""LangChain adapter of tiered-cache: an exact + semantic `BaseCache`, embedded or on Redis."""

from .cache import TieredCache

__all__ = ["TieredCache"]
