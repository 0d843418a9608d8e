"""TieredKVStore: a LlamaIndex `BaseKVStore` on the core's auxiliary store (embedded or Redis).

Made for `IngestionCache(cache=TieredKVStore(...))`: values are dicts stored as JSON under
`kv:<collection>:<key>` in `cache.aux` (outside the cached responses: never counted or cleared
with them), the collection percent-encoded so that a ':' in it can never make two collections
share keys. The core's failure policy applies: a failing backend turns reads into misses and
drops writes (counted, logged once per incident) unless `strict=True`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, unquote

import orjson
from llama_index.core.storage.kvstore.types import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_COLLECTION,
    BaseKVStore,
)
from tiered_cache import TieredCache

from .guard import logger

KEY_PREFIX = "kv:"
Rows = list[tuple[str, bytes]]


def collection_prefix(collection: str) -> str:
    """The key prefix of a collection: `kv:<percent-encoded collection>:`."""
    return f"{KEY_PREFIX}{quote(collection, safe='')}:"


def _encode(val: dict[str, Any]) -> bytes:
    if not isinstance(val, dict):
        raise TypeError(f"TieredKVStore values are dicts, got {type(val).__name__}")
    return orjson.dumps(val, option=orjson.OPT_SERIALIZE_NUMPY)


class TieredKVStore(BaseKVStore):
    """Key-value store for LlamaIndex (ingestion cache, ...) on a core `TieredCache`.

    `TieredKVStore()` is in process; `TieredKVStore.from_url("redis://...", namespace="...")` is
    shared; `TieredKVStore(cache)` uses an existing core cache. `ttl` defaults to the cache's.
    """

    def __init__(
        self,
        cache: TieredCache | None = None,
        *,
        strict: bool = False,
        ttl: float | None = None,
        **settings: Any,
    ) -> None:
        self.cache = TieredCache.ensure(cache, settings, semantic=False)
        self.strict = strict
        self.ttl = ttl if ttl is not None else self.cache.config.ttl

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

    @staticmethod
    def _decode(raw: bytes | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            logger.warning("tiered-cache: ignoring an unreadable stored value (%s)", exc)
            return None
        return value if isinstance(value, dict) else None

    def _decode_all(self, rows: Rows, collection: str) -> dict[str, dict[str, Any]]:
        cut = len(collection_prefix(collection))
        out: dict[str, dict[str, Any]] = {}
        for key, raw in rows:
            value = self._decode(raw)
            if value is not None:
                out[key[cut:]] = value
        return out

    # -- BaseKVStore ----------------------------------------------------------------------------
    def put(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        """Store `val` (JSON) under `key` in `collection`."""
        self.cache.aux.set(self._key(key, collection), _encode(val), self.ttl, strict=self.strict)

    async def aput(
        self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION
    ) -> None:
        data = _encode(val)
        await self.cache.aux.aset(self._key(key, collection), data, self.ttl, strict=self.strict)

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
        return self._decode(self.cache.aux.get(self._key(key, collection), strict=self.strict))

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        raw = await self.cache.aux.aget(self._key(key, collection), strict=self.strict)
        return self._decode(raw)

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Every key and value of `collection`."""
        rows = self.cache.aux.scan(collection_prefix(collection), strict=self.strict)
        return self._decode_all(rows, collection)

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        rows = await self.cache.aux.ascan(collection_prefix(collection), strict=self.strict)
        return self._decode_all(rows, collection)

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Delete `key`; True if it existed."""
        return self.cache.aux.delete(self._key(key, collection), strict=self.strict)

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        return await self.cache.aux.adelete(self._key(key, collection), strict=self.strict)

    # -- extras ---------------------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Names of the collections that hold at least one key."""
        return _collection_names(self.cache.aux.scan(KEY_PREFIX, strict=self.strict))

    async def acollections(self) -> list[str]:
        return _collection_names(await self.cache.aux.ascan(KEY_PREFIX, strict=self.strict))

    def close(self) -> None:
        """Close the core cache's connections."""
        self.cache.close()


def _collection_names(rows: Rows) -> list[str]:
    names = {unquote(key[len(KEY_PREFIX) :].split(":", 1)[0]) for key, _ in rows}
    return sorted(names)
