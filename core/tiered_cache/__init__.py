"""tiered-cache: an exact + semantic LLM response cache, embedded or on Redis."""

from .backends.memory_kv import KVStore, MemoryKV
from .backends.memory_vectors import Match, MemoryVectorIndex, VectorIndex
from .cache import CacheHit, Served, TieredCache
from .config import CacheConfig
from .embeddings.embedder import Embedder, EmbeddingService, SentenceTransformerEmbedder
from .entry import CacheEntry
from .errors import (
    BackendError,
    ConfigurationError,
    InvalidRequestError,
    ModelNotFoundError,
    SchemaMismatchError,
    TieredCacheError,
)
from .normalize import Normalizer
from .quality.verifier import Verifier, VerifierWeights
from .request import CacheRequest, build_request

__all__ = [
    "BackendError",
    "CacheConfig",
    "CacheEntry",
    "CacheHit",
    "CacheRequest",
    "ConfigurationError",
    "Embedder",
    "EmbeddingService",
    "InvalidRequestError",
    "KVStore",
    "Match",
    "MemoryKV",
    "MemoryVectorIndex",
    "ModelNotFoundError",
    "Normalizer",
    "SchemaMismatchError",
    "SentenceTransformerEmbedder",
    "Served",
    "TieredCache",
    "TieredCacheError",
    "VectorIndex",
    "Verifier",
    "VerifierWeights",
    "build_request",
]
__version__ = "0.1.0"
