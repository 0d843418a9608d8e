"""tiered-cache: an exact + semantic LLM response cache, embedded or on Redis."""

from .cache import CacheHit, Served, TieredCache
from .config import CacheConfig
from .embedder import Embedder, EmbeddingService, SentenceTransformerEmbedder
from .entry import CacheEntry
from .errors import (
    BackendError,
    ConfigurationError,
    InvalidRequestError,
    ModelNotFoundError,
    SchemaMismatchError,
    TieredCacheError,
)
from .kv import KVStore, MemoryKV
from .normalize import Normalizer
from .request import CacheRequest, build_request
from .vectors import Match, MemoryVectorIndex, VectorIndex
from .verifier import Verifier, VerifierWeights

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
