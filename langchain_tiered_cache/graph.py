"""`GraphCache`: LangGraph's node cache (`graph.compile(cache=GraphCache())`, `CachePolicy`) on
the core's key-value store, embedded or on Redis.

A node's cached writes are kept in the core cache's auxiliary store (`cache.aux`: exact keys,
per-key TTL, outside the indexed LLM-response entries), one key per (namespace, key), encoded
by LangGraph's serializer (`JsonPlusSerializer`, never its pickle fallback). A value is served
only if encoding it again gives back the stored bytes: a type the serializer may not rebuild
(it would come back as plain data) is a miss, never a different value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import tiered_cache
from langgraph.cache.base import BaseCache, FullKey, Namespace
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from tiered_cache import ConfigurationError

from .cache import TieredLLMCache

logger = logging.getLogger(__name__)
_PREFIX = "langgraph:"


class GraphCache(BaseCache[Any]):
    """LangGraph's node cache on tiered-cache: `graph.compile(cache=GraphCache())`.

    `GraphCache(**settings)` embeds a core cache (`tiered_cache.CacheConfig` fields; no
    semantic tier is needed); `GraphCache.from_url(url, namespace="app")` uses Redis;
    `GraphCache(cache)` shares a core cache (or a LangChain `TieredLLMCache`'s). A `CachePolicy`
    without a TTL keeps its entries for the core cache's `ttl` (None: until cleared).
    `serde`: LangGraph's serializer of the writes; by default it rebuilds only the types
    LangGraph deems safe (messages, dates, ...): pass
    `JsonPlusSerializer(allowed_msgpack_modules=[...])` for your own state types.
    """

    def __init__(
        self,
        cache: tiered_cache.TieredCache | TieredLLMCache | None = None,
        *,
        serde: SerializerProtocol | None = None,
        **settings: Any,
    ) -> None:
        if serde is not None and getattr(serde, "pickle_fallback", False):
            raise ConfigurationError("GraphCache never pickles: pass a serde without pickle")
        super().__init__(
            serde=serde or JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
        )
        core = cache.core if isinstance(cache, TieredLLMCache) else cache
        self.core = tiered_cache.TieredCache.ensure(core, settings, semantic=False)

    @classmethod
    def from_url(
        cls, url: str, *, serde: SerializerProtocol | None = None, **settings: Any
    ) -> GraphCache:
        """A node cache on Redis: `GraphCache.from_url("redis://host:6379", namespace="app")`."""
        settings.setdefault("semantic", False)
        return cls(tiered_cache.TieredCache.from_url(url, **settings), serde=serde)

    # -- encoding ----------------------------------------------------------------------------------
    def _encode(self, value: Any) -> bytes:
        kind, data = self.serde.dumps_typed(value)
        return kind.encode() + b":" + data

    def _decode(self, raw: bytes) -> tuple[bool, Any]:
        """(True, value), or (False, None) for bytes that do not decode to an equal value."""
        kind, sep, data = raw.partition(b":")
        if not sep or kind == b"pickle":
            return False, None
        try:
            value = self.serde.loads_typed((kind.decode(), data))
            same = self.serde.dumps_typed(value) == (kind.decode(), data)
        except Exception:
            logger.warning("tiered-cache: dropping a graph cache entry that does not decode")
            return False, None
        if not same:  # the serializer rebuilt something else (a type it may not construct)
            logger.warning("tiered-cache: a graph cache entry did not decode to the value stored")
            return False, None
        return True, value

    def _ttl(self, ttl: int | None) -> float | None:
        return self.core.config.ttl if ttl is None else float(ttl)

    # -- BaseCache ---------------------------------------------------------------------------------
    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """The cached writes of the given keys (missing, expired and undecodable ones left out)."""
        found: dict[FullKey, Any] = {}
        for ns, key in keys:
            raw = self.core.aux.get(entry_key(ns, key))
            if raw is not None:
                ok, value = self._decode(raw)
                if ok:
                    found[(ns, key)] = value
        return found

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        raws = await asyncio.gather(*(self.core.aux.aget(entry_key(ns, k)) for ns, k in keys))
        found: dict[FullKey, Any] = {}
        for full, raw in zip(keys, raws, strict=True):
            if raw is not None:
                ok, value = self._decode(raw)
                if ok:
                    found[full] = value
        return found

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Store each value for its TTL in seconds (a failing backend drops the write, logged)."""
        for (ns, key), (value, ttl) in pairs.items():
            self.core.aux.set(entry_key(ns, key), self._encode(value), self._ttl(ttl))

    async def aset(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        await asyncio.gather(
            *(
                self.core.aux.aset(entry_key(ns, key), self._encode(value), self._ttl(ttl))
                for (ns, key), (value, ttl) in pairs.items()
            )
        )

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of the given namespaces (exactly those), or all of this cache's."""
        for prefix in prefixes(namespaces):
            for name, _ in self.core.aux.scan(prefix):
                self.core.aux.delete(name)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        for prefix in prefixes(namespaces):
            rows = await self.core.aux.ascan(prefix)
            await asyncio.gather(*(self.core.aux.adelete(name) for name, _ in rows))


def namespace_prefix(ns: Namespace) -> str:
    """The key prefix of one namespace's entries: its parts escaped, so that no namespace's
    prefix is another's (`("a",)` does not cover `("a", "b")` nor `("a|b",)`)."""
    return _PREFIX + "/".join(quote(part, safe="") for part in ns) + "|"


def entry_key(ns: Namespace, key: str) -> str:
    return namespace_prefix(ns) + quote(key, safe="")


def prefixes(namespaces: Sequence[Namespace] | None) -> list[str]:
    return [_PREFIX] if namespaces is None else [namespace_prefix(tuple(ns)) for ns in namespaces]
