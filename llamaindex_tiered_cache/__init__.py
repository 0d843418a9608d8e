"""LlamaIndex adapters of tiered-cache: an LLM wrapper, an embedding wrapper and a BaseKVStore."""

from .embedding import CachedEmbedding
from .kvstore import TieredKVStore
from .llm import CachedFunctionCallingLLM, CachedLLM, cached_llm
from .responses import CACHE_KEY

__all__ = [
    "CACHE_KEY",
    "CachedEmbedding",
    "CachedFunctionCallingLLM",
    "CachedLLM",
    "TieredKVStore",
    "cached_llm",
]
