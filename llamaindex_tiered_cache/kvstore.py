"""TieredKVStore: a LlamaIndex `BaseKVStore` on the core's exact tier (embedded or Redis).

Made for `IngestionCache(cache=TieredKVStore(...))`: values are dicts stored as JSON under
`kv:<collection>:<key>`, the collection percent-encoded so that a ':' in it can never make two
collections share keys. Like the rest of the cache, a failing backend turns reads into misses
and drops writes (logged) unless `strict=True`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import orjson
from llama_index.core.storage.kvstore.types import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_COLLECTION,
    BaseKVStore,
)
from tiered_cache import BackendError, ConfigurationError, TieredCache

from .guard import FailureLog

KEY_PREFIX = "kv:"
T = TypeVar("T")
Rows = list[tuple[str, bytes]]


def collection_prefix(collection: str) -> str:
    """The key prefix of a collection: `kv:<percent-encoded collection>:`."""
    return f"{KEY_PREFIX}{quote(collection, safe='')}:"


def _encode(val: dict[str, Any]) -> bytes:
    if not isinstance(val, dict):
        raise TypeError(f"TieredKVStore values are dicts, got {type(val).__name__}")
    return orjson.dumps(val, option=orjson.OPT_SERIALIZE_NUMPY)


class TieredKVStore(BaseKVStore):
    """Key-value store for LlamaIndex (ingestion cache, ...) on a core `TieredCache`'s exact tier.

    `TieredKVStore()` is in process (LRU-bounded by `max_entries`/`max_bytes`);
    `TieredKVStore.from_url("redis://...", namespace="...")` is shared; `TieredKVStore(cache)` uses
    an existing core cache. `ttl` defaults to the cache's.
    """

    def __init__(
        self,
        cache: TieredCache | None = None,
        *,
        strict: bool = False,
        ttl: float | None = None,
        **settings: Any,
    ) -> None:
        if cache is not None and settings:
            raise ConfigurationError(
                f"pass either cache= or cache settings, not both (got {sorted(settings)})"
            )
        self.cache = cache if cache is not None else TieredCache(**{"semantic": False, **settings})
        self.strict = strict
        self.ttl = ttl if ttl is not None else self.cache.config.ttl
        self._failures = FailureLog(type(self).__name__)

    @classmethod
    def from_url(
        cls, url: str, *, strict: bool = False, ttl: float | None = None, **settings: Any
    ) -> TieredKVStore:
        """A store on Redis Stack / Redis 8; settings are `CacheConfig` fields (`namespace`...)."""
        core = TieredCache.from_url(url, **{"semantic": False, **settings})
        return cls(core, strict=strict, ttl=ttl)

    @staticmethod
    def _key(key: str, collection: str) -> str:
        return collection_prefix(collection) + key

    # -- failure policy -------------------------------------------------------------------------
    def _guard(self, action: str, run: Callable[[], T], fallback: T) -> T:
        try:
            result = run()
        except Exception as exc:
            return self._failed(exc, action, fallback)
        self._failures.ok()
        return result

    async def _aguard(self, action: str, run: Callable[[], Awaitable[T]], fallback: T) -> T:
        try:
            result = await run()
        except Exception as exc:
            return self._failed(exc, action, fallback)
        self._failures.ok()
        return result

    def _failed(self, exc: Exception, action: str, fallback: T) -> T:
        if self.strict:
            raise BackendError(f"TieredKVStore {action} failed: {exc}") from exc
        self._failures.failed(exc, action)
        return fallback

    def _decode(self, raw: tuple[bytes, int] | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        return self._decode_value(raw[0])

    def _decode_value(self, raw: bytes) -> dict[str, Any] | None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._failures.failed(exc, "reading a stored value")
            return None
        return value if isinstance(value, dict) else None

    def _decode_all(self, rows: Rows, collection: str) -> dict[str, dict[str, Any]]:
        cut = len(collection_prefix(collection))
        out: dict[str, dict[str, Any]] = {}
        for key, raw in rows:
            value = self._decode_value(raw)
            if value is not None:
                out[key[cut:]] = value
        return out

    # -- BaseKVStore ----------------------------------------------------------------------------
    def put(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        """Store `val` (JSON) under `key` in `collection`."""
        data = _encode(val)
        self._guard(
            "put", lambda: self.cache.kv.set(self._key(key, collection), data, self.ttl), None
        )

    async def aput(
        self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION
    ) -> None:
        data = _encode(val)
        await self._aguard(
            "put", lambda: self.cache.kv.aset(self._key(key, collection), data, self.ttl), None
        )

    def put_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Store many pairs (any `batch_size` is accepted)."""
        for key, val in kv_pairs:
            self.put(key, val, collection=collection)

    async def aput_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        await asyncio.gather(*(self.aput(k, v, collection=collection) for k, v in kv_pairs))

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """The value under `key`, or None (also when the backend fails, unless strict)."""
        raw = self._guard("get", lambda: self.cache.kv.get(self._key(key, collection)), None)
        return self._decode(raw)

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        raw = await self._aguard(
            "get", lambda: self.cache.kv.aget(self._key(key, collection)), None
        )
        return self._decode(raw)

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Every key and value of `collection`."""
        no_rows: Rows = []
        rows = self._guard(
            "get_all", lambda: self.cache.kv.scan(collection_prefix(collection)), no_rows
        )
        return self._decode_all(rows, collection)

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        no_rows: Rows = []
        rows = await self._aguard(
            "get_all", lambda: self.cache.kv.ascan(collection_prefix(collection)), no_rows
        )
        return self._decode_all(rows, collection)

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Delete `key`; True if it existed."""
        full = self._key(key, collection)

        def run() -> bool:
            existed = self.cache.kv.get(full) is not None
            self.cache.kv.delete(full)
            return existed

        return self._guard("delete", run, False)

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        full = self._key(key, collection)

        async def run() -> bool:
            existed = await self.cache.kv.aget(full) is not None
            await self.cache.kv.adelete(full)
            return existed

        return await self._aguard("delete", run, False)

    # -- extras ---------------------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Names of the collections that hold at least one key."""
        no_rows: Rows = []
        rows = self._guard("collections", lambda: self.cache.kv.scan(KEY_PREFIX), no_rows)
        return _collection_names(rows)

    async def acollections(self) -> list[str]:
        no_rows: Rows = []
        rows = await self._aguard("collections", lambda: self.cache.kv.ascan(KEY_PREFIX), no_rows)
        return _collection_names(rows)

    def close(self) -> None:
        """Close the core cache's connections."""
        self.cache.close()


def _collection_names(rows: Rows) -> list[str]:
    names = {unquote(key[len(KEY_PREFIX) :].split(":", 1)[0]) for key, _ in rows}
    return sorted(names)
