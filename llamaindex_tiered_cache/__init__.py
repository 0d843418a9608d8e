"""LlamaIndex adapters of tiered-cache: an LLM wrapper, an embedding wrapper and a BaseKVStore."""

try:
    import llama_index.core  # noqa: F401
except ImportError:
    raise ModuleNotFoundError(
        "llamaindex_tiered_cache needs LlamaIndex: pip install '.[llamaindex,embeddings]' in a "
        "clone of tiered-cache (or the wheel's [llamaindex,embeddings] extras)",
        name="llama_index.core",
    ) from None

from .embedding import CachedEmbedding
from .function_calling import CachedFunctionCallingLLM, cached_llm
from .kvstore import TieredKVStore
from .llm import CachedLLM
from .responses import CACHE_KEY

__all__ = [
    "CACHE_KEY",
    "CachedEmbedding",
    "CachedFunctionCallingLLM",
    "CachedLLM",
    "TieredKVStore",
    "cached_llm",
]
