"""TieredCache: the public facade. L1 exact -> L2 semantic -> miss, over pluggable backends.

The decisions live in `engine.plans`, the I/O in `engine.runner`, the failure policy in
`engine.edge`, the hit rules in `rules/`, the backends in `backends/`; this class wires them
from a `CacheConfig` and offers the lookup and store API. Its administration methods (feedback,
calibrate, explain, peek, forget, invalidate, clear, stats, close) come from `cache_admin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, NoReturn

from .audit import auditor_for
from .backends.factory import build_backends
from .backends.protocols import Backends
from .cache_admin import CacheAdmin
from .config import CacheConfig
from .embeddings.embedder import Embedder, EmbeddingService, embedder_tag
from .embeddings.onnx import make_embedder
from .engine.driver import Driver, Hooks
from .engine.ops import Computed, Served
from .engine.plans import CacheHit, Plans
from .errors import ConfigurationError
from .invalidation import check_tags
from .observability.metrics import metric_sinks
from .observability.stats import Stats
from .request import CacheRequest, request_for
from .store import AuxiliaryStore

if TYPE_CHECKING:
    from .backends.redis.connection import RedisConnection

logger = logging.getLogger(__name__)
__all__ = ["CacheHit", "Served", "TieredCache"]


class TieredCache(CacheAdmin):
    """An LLM response cache: exact repeats from L1, paraphrases from L2, both embedded or on Redis.

    `TieredCache()` is an in-process cache; `TieredCache.from_url("redis://...")` shares one
    across processes. Settings are `CacheConfig` fields, given as a config or as keywords.
    """

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        backends: Backends | None = None,
        embedder: Embedder | None = None,
        hooks: Hooks | None = None,
        answers_agree: Callable[[str, str], bool] | None = None,
        **settings: Any,
    ) -> None:
        cfg = config or CacheConfig()
        self.config = cfg = cfg.replace(**settings) if settings else cfg
        self.normalizer = cfg.normalizer()
        self._stats = Stats()
        if cfg.metrics:
            self._stats.add_sinks(metric_sinks(cfg.namespace))
        self.embeddings: EmbeddingService | None = None
        if cfg.semantic:
            emb = cfg.embedding
            self.embeddings = EmbeddingService(
                embedder or make_embedder(emb.embedding_model, emb.embedding_backend),
                cache_size=emb.embedding_cache_size,
                window_ms=emb.batch_window_ms,
                preload=emb.preload,
            )
        dim = self.embeddings.embedder.dimension if self.embeddings else None
        self.backends = backends or build_backends(cfg, dim, on_evict=self._evicted)
        if self.backends.stats_sink is not None:
            self._stats.add_sink(self.backends.stats_sink)
        semantic = cfg.semantic and self.backends.index is not None
        space = embedder_tag(self.embeddings.embedder) if self.embeddings else ""
        self.plans = Plans.build(self._current, self._stats, semantic=semantic, space=space)
        self.driver = Driver(
            self.backends, self.embeddings, self.plans, self._stats, self._current, hooks
        )
        self.aux = AuxiliaryStore(self.driver)
        """Non-response data (adapters' embeddings, ingestion outputs): see `store.py`."""
        self.auditor = auditor_for(self, answers_agree)
        """Under `max_wrong_rate`: audits of served hits and misses (audit.py); else None."""

    def _current(self) -> CacheConfig:
        return self.config  # `calibrate` may replace it

    @classmethod
    def from_url(cls, url: str, *, embedder: Embedder | None = None, **kw: Any) -> TieredCache:
        """A cache on Redis Stack / Redis 8 (`redis://`, `rediss://` or `unix://`)."""
        return cls(CacheConfig(redis_url=url).replace(**kw), embedder=embedder)

    @classmethod
    def ensure(
        cls, cache: TieredCache | None, settings: Mapping[str, Any], **defaults: Any
    ) -> TieredCache:
        """`cache` as given, or a new one from `settings` (over `defaults`): for adapters that
        take either an existing core cache or its settings, never both."""
        if cache is not None and settings:
            raise ConfigurationError(
                f"pass either cache= or cache settings, not both (got {sorted(settings)})"
            )
        return cache if cache is not None else cls(**{**defaults, **settings})

    @classmethod
    def from_env(cls, **settings: Any) -> TieredCache:
        """A cache configured by `TIERED_CACHE_*` environment variables; keywords win."""
        return cls(CacheConfig.from_env(**settings))

    def _evicted(self, key: str) -> None:
        self._stats.incr("evictions")
        if self.backends.index is not None:  # set before any entry can be evicted
            self.backends.index.delete(key)

    @property
    def index(self) -> Any:
        """The vector index of the semantic tier (None when it is off)."""
        return self.backends.index if self.plans.semantic else None

    @property
    def redis(self) -> RedisConnection | None:
        """The Redis connection (client and key names) of a Redis cache; None when embedded."""
        return self.backends.redis

    # -- requests -------------------------------------------------------------------------------
    def request(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        model: str,
        params: Mapping[str, Any] | None = None,
        tools: Any = None,
    ) -> CacheRequest:
        """Build the CacheRequest of one call; a plain string is one user message."""
        return request_for(self.config, self.normalizer, messages, model, params, tools)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait (up to `timeout` s) for the embedding model, which loads in the background from
        the moment the cache is built; True once it is loaded (or when there is no model)."""
        return self.embeddings is None or self.embeddings.ready(timeout)

    async def await_ready(self, timeout: float | None = None) -> bool:
        """`wait_ready` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_ready, timeout)

    # -- lookups and stores ---------------------------------------------------------------------
    def lookup(self, request: CacheRequest, *, lead: bool = False) -> CacheHit | None:
        """The cached answer for `request`, or None. Backend failures are misses, never errors.

        `lead=True`: single-flight for callers that call the model themselves. On a miss the
        caller joins the request's flight: the first caller gets None and leads (it must call
        `land(request)` once its answer is stored, or has failed); concurrent callers wait (up
        to `lease_wait` s) and get the leader's answer as a hit with `coalesced=True` (counted
        as `coalesced_hits`, never as a miss). None after waiting: the leader failed or was
        too slow; compute (`land` is then a no-op). Across processes a Redis lease does the
        same. `flight(request)` wraps lookup and land in a `with` block."""
        if lead:
            return self.driver.led(request)[0]
        return self.driver.lookup(request)

    async def alookup(self, request: CacheRequest, *, lead: bool = False) -> CacheHit | None:
        if lead:
            return (await self.driver.aled(request))[0]
        return await self.driver.alookup(request)

    def lead(self, request: CacheRequest) -> bool:
        """Join `request`'s flight without looking it up (counts nothing): True: this caller
        leads and must call `land(request)`; False: it waited for the leader (up to
        `lease_wait` s) and should look up again. Prefer `lookup(request, lead=True)`, which
        also counts the outcome once."""
        return self.driver.lead(request)

    async def alead(self, request: CacheRequest) -> bool:
        return await self.driver.alead(request)

    def land(self, request: CacheRequest) -> bool:
        """Free the key the calling thread leads for `request` (stored or failed): its Redis
        lease is released and its waiters look up again. False (a no-op) if it leads none."""
        return self.driver.land(request)

    async def aland(self, request: CacheRequest) -> bool:
        """`land` for the lead the current asyncio task holds."""
        return await self.driver.aland(request)

    @contextlib.contextmanager
    def flight(self, request: CacheRequest) -> Iterator[CacheHit | None]:
        """`lookup(request, lead=True)` as a `with` block that lands on exit, whatever happens:

        with cache.flight(request) as hit:
            if hit is None:
                cache.store(request, call_the_model())
        """
        hit, lead = self.driver.led(request)
        try:
            yield hit
        finally:
            if lead is not None:
                self.driver.landed(lead)

    @contextlib.asynccontextmanager
    async def aflight(self, request: CacheRequest) -> AsyncIterator[CacheHit | None]:
        """`flight` for asyncio callers: `async with cache.aflight(request) as hit: ...`."""
        hit, lead = await self.driver.aled(request)
        try:
            yield hit
        finally:
            if lead is not None:
                await self.driver.alanded(lead)

    def store(
        self,
        request: CacheRequest,
        payload: str,
        *,
        usage: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        tags: Iterable[str] | str | None = None,
        sliding: bool | None = None,
    ) -> bool:
        """Store `payload` for `request` (L1 always, L2 when deterministic). False if dropped.

        `ttl`: this entry's (None: the cache's); `sliding`: each hit restarts it (None: the
        cache's `ttl_policy`); `tags`: what `invalidate(tags=...)` can delete it by."""
        return self.driver.store(request, payload, usage, ttl, check_tags(tags), sliding)

    async def astore(
        self,
        request: CacheRequest,
        payload: str,
        *,
        usage: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        tags: Iterable[str] | str | None = None,
        sliding: bool | None = None,
    ) -> bool:
        return await self.driver.astore(request, payload, usage, ttl, check_tags(tags), sliding)

    def get_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Computed],
        *,
        ttl: float | None = None,
        answer_text: Callable[[str], str] | None = None,
    ) -> Served:
        """The cached payload, or `compute()` (a payload, or a payload and its usage) stored.

        Concurrent misses of one key compute once: threads of this process wait for the first
        caller; other processes wait on a Redis lease (up to `lease_wait` s, then compute).
        An exception from `compute` reaches the caller and frees the key for the next one.
        Under `max_wrong_rate` the outcome may be audited: `answer_text(payload)` gives the
        answer a payload holds, for the comparator (default: the payload itself).
        """
        served = self.driver.get_or_compute(request, compute, ttl)
        if self.auditor is not None:  # after the answer is decided, off the call path
            self.auditor.after(request, served, compute, ttl, answer_text)
        return served

    async def aget_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Awaitable[Computed]],
        *,
        ttl: float | None = None,
        answer_text: Callable[[str], str] | None = None,
    ) -> Served:
        served = await self.driver.aget_or_compute(request, compute, ttl)
        if self.auditor is not None:
            self.auditor.aafter(request, served, compute, ttl, answer_text)
        return served

    def warm(self, items: Iterable[tuple[CacheRequest, str]], batch_size: int = 256) -> int:
        """Store many (request, payload) pairs: their questions are embedded in batches and
        their writes sent in bulk (pipelined on Redis). Returns how many were stored."""
        return self.driver.admin.warm(items, batch_size)

    # -- not a key-value cache -------------------------------------------------------------------
    def get(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Raises: this is an LLM response cache (LangGraph's `compile(cache=...)` calls `get`)."""
        raise TypeError(NOT_A_KEY_VALUE_CACHE)

    async def aget(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(NOT_A_KEY_VALUE_CACHE)


NOT_A_KEY_VALUE_CACHE = (
    "TieredCache is an LLM response cache, not a key-value cache: for LangGraph's "
    "graph.compile(cache=...) pass langchain_tiered_cache.GraphCache(cache) instead"
)
