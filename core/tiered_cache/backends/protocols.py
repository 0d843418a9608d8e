"""The narrow protocols backends implement, and the optional abilities some of them add.

A cache needs an `EntryStore` (response entries, hit counted on read) and, for the semantic
tier, a `VectorIndex`; an `AuxStore` keeps non-response data (threshold state, adapters'
embeddings and ingestion outputs) outside the entries. `Leases`, `BulkWrites`, `Peek` and
`AsyncClose` are abilities a backend may add; the engine checks for them with `isinstance`.
Every backend names the exceptions that mean "the backend failed" in `errors`, and the client
libraries it talks through in `error_packages` (an exception raised inside one, whatever its
type, is a failure of the backend: redis-py raises AttributeError on a connection that dropped
mid-handshake): the engine maps those (and only those) to `BackendError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # a type only: the protocols import no backend
    from .redis.connection import RedisConnection

import numpy as np
import numpy.typing as npt

from ..observability.stats import StatsSink

Vector = npt.NDArray[np.float32]
WriteItem = tuple[str, bytes, float | None, tuple[str, Vector, str] | None]
"""An entry to write: key, entry JSON, TTL, and (partition, vector, question) or None."""


@dataclass(frozen=True)
class Match:
    """A neighbour inside the request's partition."""

    key: str
    similarity: float
    query_text: str | None


@runtime_checkable
class EntryStore(Protocol):
    """Response entries by key with a per-key TTL; `get` counts a hit and returns the count."""

    errors: tuple[type[BaseException], ...]
    error_packages: tuple[str, ...]

    def get(self, key: str) -> tuple[bytes, int] | None: ...
    def set(self, key: str, value: bytes, ttl: float | None) -> None: ...
    def delete(self, key: str) -> bool: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    async def aget(self, key: str) -> tuple[bytes, int] | None: ...
    async def aset(self, key: str, value: bytes, ttl: float | None) -> None: ...
    async def adelete(self, key: str) -> bool: ...
    async def aclear(self) -> None: ...
    # Sliding TTLs and targeted invalidation: restart a TTL; every live entry (key, entry
    # JSON as written); delete many (their vectors with them where the index shares them).
    def touch(self, key: str, ttl: float) -> None: ...
    def entries(self) -> list[tuple[str, bytes]]: ...
    def delete_many(self, keys: list[str]) -> int: ...
    async def atouch(self, key: str, ttl: float) -> None: ...
    async def aentries(self) -> list[tuple[str, bytes]]: ...
    async def adelete_many(self, keys: list[str]) -> int: ...


@runtime_checkable
class AuxStore(Protocol):
    """Plain bytes by key with a per-key TTL, kept apart from the entries: no hit counting,
    never indexed, not counted as entries, not cleared with them."""

    errors: tuple[type[BaseException], ...]
    error_packages: tuple[str, ...]

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: float | None) -> None: ...
    def delete(self, key: str) -> bool: ...
    def scan(self, prefix: str) -> list[tuple[str, bytes]]: ...
    def clear(self) -> None: ...
    async def aget(self, key: str) -> bytes | None: ...
    async def aset(self, key: str, value: bytes, ttl: float | None) -> None: ...
    async def adelete(self, key: str) -> bool: ...
    async def ascan(self, prefix: str) -> list[tuple[str, bytes]]: ...
    async def aclear(self) -> None: ...


@runtime_checkable
class VectorIndex(Protocol):
    """k-NN over unit vectors, always pre-filtered by partition; documents expire with a TTL."""

    errors: tuple[type[BaseException], ...]
    error_packages: tuple[str, ...]

    def add(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None: ...
    def search(self, partition: str, vector: Vector, k: int) -> list[Match]: ...
    def delete(self, key: str) -> bool: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    async def aadd(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None: ...
    async def asearch(self, partition: str, vector: Vector, k: int) -> list[Match]: ...
    async def adelete(self, key: str) -> bool: ...
    async def aclear(self) -> None: ...


@runtime_checkable
class Leases(Protocol):
    """Short exclusive leases by name (get_or_compute across processes)."""

    def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool: ...
    def release_lease(self, name: str, token: str) -> None: ...
    async def aacquire_lease(self, name: str, token: str, ttl_ms: int) -> bool: ...
    async def arelease_lease(self, name: str, token: str) -> None: ...


@runtime_checkable
class BulkWrites(Protocol):
    """Entries and their vectors written together, in bulk (one store holds both tiers)."""

    def write_many(self, items: list[WriteItem]) -> None: ...
    async def awrite_many(self, items: list[WriteItem]) -> None: ...


@runtime_checkable
class Peek(Protocol):
    """An entry read without counting a hit (diagnostics)."""

    def peek(self, key: str) -> tuple[bytes, int] | None: ...


@runtime_checkable
class SharedCounters(Protocol):
    """The counters every process of a namespace adds to (Redis): the CLI and the stats page
    read them and reset them through this, never through a client."""

    where: str
    """Where they live, safe to print (no password)."""

    def read(self, *, scan: bool = True) -> dict[str, Any]: ...
    def reset(self) -> None: ...
    def ping(self) -> None:
        """Raise when the server that holds them cannot be reached (the page's /health)."""


@runtime_checkable
class NearCacheStats(Protocol):
    """What the stats show of a near cache (entries kept in process from a shared store)."""

    live: bool
    served: int

    def __len__(self) -> int: ...


@runtime_checkable
class AsyncClose(Protocol):
    """Closes the asyncio connections of the running loop too."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Backends:
    """What a cache runs on. `shared_index`: the index lives in the entries' own records (Redis:
    one hash), so deleting or clearing entries takes their vectors and `bulk` writes both."""

    entries: EntryStore
    aux: AuxStore
    index: VectorIndex | None = None
    shared_index: bool = False
    leases: Leases | None = None
    bulk: BulkWrites | None = None
    stats_sink: StatsSink | None = None
    """Where this process adds its counters for every process to read (Redis), or None."""
    near: NearCacheStats | None = None
    """The near cache of a Redis entry store (for stats), or None."""
    redis: RedisConnection | None = None
    """The Redis connection (client and key names) of a Redis cache, or None: for tests and
    benchmarks that look at the keys; the engine and the tools use the capabilities above."""
    shared: SharedCounters | None = None
    """The counters shared by every process of the namespace (Redis), or None."""
    kind: str = "embedded"
    """What the stats call this backend ("embedded", "redis")."""

    @property
    def own_index(self) -> VectorIndex | None:
        """The index when it must be deleted from, cleared and closed on its own."""
        return None if self.shared_index else self.index
