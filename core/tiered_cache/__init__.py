"""tiered-cache: an exact + semantic LLM response cache, embedded or on Redis."""

from .backends.memory_kv import MemoryAux, MemoryKV
from .backends.memory_vectors import MemoryVectorIndex
from .backends.protocols import (
    AuxStore,
    Backends,
    BulkWrites,
    EntryStore,
    Leases,
    Match,
    Peek,
    SharedCounters,
    VectorIndex,
)
from .cache import CacheHit, Served, TieredCache
from .calls import CallCache, Encoded, Guard
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
from .options import CallOptions
from .request import CacheRequest, build_request
from .rules.verifier import Verifier, VerifierWeights
from .store import AuxiliaryStore
from .streams import StreamRecorder

__all__ = [
    "AuxStore",
    "AuxiliaryStore",
    "BackendError",
    "Backends",
    "BulkWrites",
    "CacheConfig",
    "CacheEntry",
    "CacheHit",
    "CacheRequest",
    "CallCache",
    "CallOptions",
    "ConfigurationError",
    "Embedder",
    "EmbeddingService",
    "Encoded",
    "EntryStore",
    "Guard",
    "InvalidRequestError",
    "Leases",
    "Match",
    "MemoryAux",
    "MemoryKV",
    "MemoryVectorIndex",
    "ModelNotFoundError",
    "Normalizer",
    "Peek",
    "SharedCounters",
    "SchemaMismatchError",
    "SentenceTransformerEmbedder",
    "Served",
    "StreamRecorder",
    "TieredCache",
    "TieredCacheError",
    "VectorIndex",
    "Verifier",
    "VerifierWeights",
    "build_request",
]
__version__ = "0.1.0"
