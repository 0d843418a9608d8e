"""TieredCache: L1 exact -> L2 semantic -> miss, over pluggable backends.

The decision logic is written once, as plans: generators that yield the I/O operations they
need (`_Get`, `_Embed`, `_Search`, ...) and receive the results. `_run` executes a plan with
sync backends, `_arun` with async ones; neither contains any caching decision. get_or_compute
is a plan too (`_compute_plan`: followers, leases, the caller's compute), stepped by `_step` for
threads and `_astep` for tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import orjson

from .backends.memory_kv import KVStore, MemoryKV
from .backends.memory_vectors import Match, MemoryVectorIndex, Vector, VectorIndex
from .config import CacheConfig
from .embeddings.embedder import Embedder, EmbeddingService, SentenceTransformerEmbedder
from .engine.breaker import CircuitBreaker
from .engine.flight import Flights
from .entry import CacheEntry, CorruptEntryError
from .errors import ConfigurationError, InvalidRequestError
from .observability.metrics import metric_sinks
from .observability.pricing import PriceTable, usage_tokens
from .observability.stats import Stats
from .quality.threshold import ThresholdController
from .quality.verifier import Verifier
from .request import CacheRequest, build_request

if TYPE_CHECKING:
    from .quality.calibrate import CalibrationResult

logger = logging.getLogger(__name__)
T = TypeVar("T")
_LEASE_POLL = 0.02


@dataclass(frozen=True)
class CacheHit:
    """A served entry: which tier answered, how similar the stored question was, and the entry."""

    payload: str
    tier: Literal["exact", "semantic"]
    similarity: float
    matched_query: str | None
    entry: CacheEntry
    partition: str = ""
    """The request's partition key (what `record_feedback` adapts the threshold of)."""


@dataclass(frozen=True)
class Served:
    """What get_or_compute returns: the payload, the hit when the cache served it, and the
    usage reported by `compute` when it ran."""

    payload: str
    hit: CacheHit | None
    usage: Mapping[str, Any] | None = None


Computed = str | tuple[str, Mapping[str, Any] | None]


# -- the I/O operations a plan can ask for ------------------------------------------------------
@dataclass(frozen=True)
class _Get:
    key: str


@dataclass(frozen=True)
class _Set:
    key: str
    value: bytes
    ttl: float | None


@dataclass(frozen=True)
class _Delete:
    key: str


@dataclass(frozen=True)
class _Embed:
    text: str


@dataclass(frozen=True)
class _Search:
    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True)
class _Add:
    key: str
    partition: str
    vector: Vector
    text: str
    ttl: float | None


@dataclass(frozen=True)
class _Write:
    """An entry and, when deterministic, its vector: written together (on Redis in one HSET,
    so that RediSearch indexes the document once)."""

    entry: _Set
    vector: _Add | None


_Op = _Get | _Delete | _Embed | _Search | _Write
Plan = Generator[_Op, Any, T]


# -- the steps of get_or_compute (threads or tasks waiting, leases, the caller's compute) --------
@dataclass(frozen=True)
class _Lookup:
    request: CacheRequest
    observed: bool  # counted as a lookup of its own (else the plan observes it)


@dataclass(frozen=True)
class _Follow:
    """Join the key's flight in this process: True for the leader; the others wait for it (up
    to `lease_wait`) and get False."""

    key: str


@dataclass(frozen=True)
class _Lease:
    key: str
    token: str
    acquire: bool  # else release; a failing backend grants it (nothing to coordinate with)


@dataclass(frozen=True)
class _Pause:
    seconds: float


@dataclass(frozen=True)
class _Compute:
    pass


@dataclass(frozen=True)
class _Keep:
    """Store a computed answer; one that cannot be stored is still returned."""

    request: CacheRequest
    served: Served
    ttl: float | None


@dataclass(frozen=True)
class _Land:
    key: str  # the leader is done: wake the key's followers


_Step = _Lookup | _Follow | _Lease | _Pause | _Compute | _Keep | _Land


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class TieredCache:
    """An LLM response cache: exact repeats from L1, paraphrases from L2, both embedded or on Redis.

    `TieredCache()` is an in-process cache; `TieredCache.from_url("redis://...")` shares one
    across processes. Settings are `CacheConfig` fields, given as a config or as keywords.
    """

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        kv: KVStore | None = None,
        index: VectorIndex | None = None,
        embedder: Embedder | None = None,
        **settings: Any,
    ) -> None:
        cfg = config or CacheConfig()
        self.config = cfg = cfg.replace(**settings) if settings else cfg
        self.normalizer = cfg.normalizer()
        self.prices = PriceTable.load(cfg.prices)
        self._stats = Stats()
        if cfg.metrics:
            self._stats.add_sinks(metric_sinks(cfg.namespace))
        self._failing = False
        self._breaker = CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown)
        self._flights = Flights()
        self.embeddings: EmbeddingService | None = None
        if cfg.semantic:
            self.embeddings = EmbeddingService(
                embedder or SentenceTransformerEmbedder(cfg.embedding_model),
                cache_size=cfg.embedding_cache_size,
                window_ms=cfg.batch_window_ms,
            )
        # Semantic candidates must pass the verifier; feedback adapts the threshold.
        self.verifier: Verifier | None = Verifier() if cfg.semantic and cfg.verifier else None
        self.thresholds: ThresholdController | None = (
            ThresholdController(lambda: self.config, self._stats)
            if cfg.semantic and cfg.adaptive_threshold
            else None
        )
        if cfg.redis_url is not None and kv is None:
            try:
                from .backends.redis.store import RedisStore
            except ImportError as exc:
                raise ConfigurationError(
                    "the Redis backend needs redis and redisvl: pip install 'tiered-cache[redis]'"
                ) from exc

            store = RedisStore(
                cfg.redis_url,
                namespace=cfg.namespace,
                prefix=cfg.prefix,
                cache_version=cfg.cache_version,
                timeout=cfg.redis_timeout,
                connect_timeout=cfg.redis_connect_timeout,
                dim=self.embeddings.embedder.dimension if self.embeddings else None,
                vector_dtype=cfg.vector_dtype,
                hnsw_m=cfg.hnsw_m,
                hnsw_ef_construction=cfg.hnsw_ef_construction,
                hnsw_ef_runtime=cfg.hnsw_ef_runtime,
                migrate=cfg.migrate_index,
                near_cache_size=cfg.near_cache_size,
            )
            kv = store
            index = index or (store if cfg.semantic else None)
            if cfg.shared_stats:
                from .backends.redis.shared_stats import RedisStatsSink, stats_key

                self._stats.add_sink(RedisStatsSink(store.client, stats_key(store.base)))
        if index is None and cfg.semantic:
            index = MemoryVectorIndex(
                exact_search_max=cfg.exact_search_max,
                hnsw_m=cfg.hnsw_m,
                hnsw_ef_construction=cfg.hnsw_ef_construction,
                hnsw_ef_runtime=cfg.hnsw_ef_runtime,
            )
        if kv is None:
            kv = MemoryKV(cfg.max_entries, cfg.max_bytes, on_evict=self._evicted)
        self.kv: KVStore = kv
        self.index: VectorIndex | None = index
        # On Redis one store serves both tiers; a separate index needs its own delete/clear/close.
        self._own_index = index if index is not None and cast(object, index) is not kv else None

    @classmethod
    def from_url(
        cls, url: str, *, embedder: Embedder | None = None, **settings: Any
    ) -> TieredCache:
        """A cache on Redis Stack / Redis 8 (`redis://`, `rediss://` or `unix://`)."""
        return cls(CacheConfig(redis_url=url).replace(**settings), embedder=embedder)

    @classmethod
    def from_env(cls, **settings: Any) -> TieredCache:
        """A cache configured by `TIERED_CACHE_*` environment variables; keywords win."""
        return cls(CacheConfig.from_env(**settings))

    def _evicted(self, key: str) -> None:
        self._stats.incr("evictions")
        if self.index is not None:
            self.index.delete(key)

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
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        size = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, Mapping))
        if size > self.config.max_prompt_chars:
            raise InvalidRequestError(
                f"prompt of {size} characters exceeds "
                f"max_prompt_chars={self.config.max_prompt_chars}"
            )
        return build_request(
            messages,
            model=model,
            params=params,
            tools=tools,
            namespace=self.config.namespace,
            cache_version=self.config.cache_version,
            normalizer=self.normalizer,
            max_semantic_temperature=self.config.max_semantic_temperature,
            semantic_max_chars=self.config.semantic_max_chars,
        )

    # -- plans: all of the caching decisions ------------------------------------------------------
    def _entry(self, raw: tuple[bytes, int]) -> CacheEntry | None:
        try:
            return CacheEntry.from_json(raw[0], hit_count=raw[1])
        except CorruptEntryError as exc:
            self._stats.incr("corrupt_entries")
            logger.warning("tiered-cache: dropping a corrupt entry (%s)", exc)
            return None

    def _lookup_plan(self, req: CacheRequest, counted: bool = True) -> Plan[CacheHit | None]:
        """`counted=False`: a read-only run (explain) records no verifier rejection."""
        raw = yield _Get(req.exact_key)
        if raw is not None:
            entry = self._entry(raw)
            if entry is not None:
                return CacheHit(
                    entry.payload, "exact", 1.0, entry.query_text, entry, req.partition_key
                )
            yield _Delete(req.exact_key)
        if self.index is None or not req.semantic_allowed or req.query_text is None:
            return None
        vector = yield _Embed(req.query_text)
        partition = req.partition_key
        matches: list[Match] = yield _Search(partition, vector, self.config.candidates)
        threshold = self.config.threshold
        thresholds = self.thresholds
        if thresholds is not None and matches and matches[0].similarity >= thresholds.floor:
            for key in thresholds.stale_keys(partition):
                thresholds.loaded(key, (yield _Get(key)))
            threshold = thresholds.current(partition)
        for match in matches:
            if match.similarity < threshold:
                break
            if self.verifier is not None and not self._verified(req.query_text, match, counted):
                continue
            raw = yield _Get(match.key)
            entry = self._entry(raw) if raw is not None else None
            if entry is None:  # evicted or corrupt: its vector must not be found again
                yield _Delete(match.key)
                continue
            return CacheHit(
                entry.payload, "semantic", match.similarity, match.query_text, entry, partition
            )
        return None

    def _store_plan(
        self, req: CacheRequest, payload: str, usage: Mapping[str, Any] | None, ttl: float | None
    ) -> Plan[bool]:
        if not isinstance(payload, str):
            raise InvalidRequestError(f"payload must be a string, got {type(payload).__name__}")
        ttl = self.config.ttl if ttl is None else ttl
        try:
            value = CacheEntry(payload, req.query_text, usage, ttl=ttl).to_json()
        except orjson.JSONEncodeError as exc:
            raise InvalidRequestError(f"payload or usage cannot be stored as JSON: {exc}") from exc
        if len(value) > self.config.max_payload_bytes:
            self._stats.incr("rejected_writes")
            logger.warning(
                "tiered-cache: not storing a %d-byte entry (max_payload_bytes=%d)",
                len(value),
                self.config.max_payload_bytes,
            )
            return False
        vector = None
        if self.index is not None and req.semantic_allowed and req.query_text is not None:
            # Embed first: the entry and its vector are then written in one operation.
            vector = yield _Embed(req.query_text)
        add = None
        if vector is not None and req.query_text is not None:
            add = _Add(req.exact_key, req.partition_key, vector, req.query_text, ttl)
        yield _Write(_Set(req.exact_key, value, ttl), add)
        return True  # the caller counts the store once the write has succeeded

    # -- drivers: the only I/O ---------------------------------------------------------------------
    def _do(self, op: _Op) -> Any:
        if isinstance(op, _Get):
            return self.kv.get(op.key)
        if isinstance(op, _Embed):
            assert self.embeddings is not None
            return self.embeddings.embed(op.text)
        if isinstance(op, _Search):
            assert self.index is not None
            return self.index.search(op.partition, op.vector, op.k)
        if isinstance(op, _Write):
            return self._write([op])
        self.kv.delete(op.key)
        if self._own_index is not None:
            self._own_index.delete(op.key)
        return None

    async def _ado(self, op: _Op) -> Any:
        if isinstance(op, _Get):
            return await self.kv.aget(op.key)
        if isinstance(op, _Embed):
            assert self.embeddings is not None
            return await self.embeddings.aembed(op.text)
        if isinstance(op, _Search):
            assert self.index is not None
            return await self.index.asearch(op.partition, op.vector, op.k)
        if isinstance(op, _Write):
            return await self._awrite([op])
        await self.kv.adelete(op.key)
        if self._own_index is not None:
            await self._own_index.adelete(op.key)
        return None

    def _bulk(self) -> Any:
        """The backend's `write_many` when one backend holds both tiers and has it, else None."""
        return getattr(self.kv, "write_many", None) if self._own_index is None else None

    @staticmethod
    def _bulk_items(writes: Sequence[_Write]) -> list[Any]:
        return [
            (
                w.entry.key,
                w.entry.value,
                w.entry.ttl,
                None if w.vector is None else (w.vector.partition, w.vector.vector, w.vector.text),
            )
            for w in writes
        ]

    def _write(self, writes: Sequence[_Write]) -> None:
        """Entries and their vectors: in bulk when the backend can, else one by one, in order
        (an embedded LRU may evict within a batch: its vectors must go with it)."""
        bulk = self._bulk()
        if bulk is not None:
            bulk(self._bulk_items(writes))
            return
        for w in writes:
            self.kv.set(w.entry.key, w.entry.value, w.entry.ttl)
            if w.vector is not None:
                assert self.index is not None
                a = w.vector
                self.index.add(a.key, a.partition, a.vector, a.text, a.ttl)

    async def _awrite(self, writes: Sequence[_Write]) -> None:
        abulk = getattr(self.kv, "awrite_many", None) if self._bulk() is not None else None
        if abulk is not None:
            await abulk(self._bulk_items(writes))
            return
        for w in writes:
            await self.kv.aset(w.entry.key, w.entry.value, w.entry.ttl)
            if w.vector is not None:
                assert self.index is not None
                a = w.vector
                await self.index.aadd(a.key, a.partition, a.vector, a.text, a.ttl)

    def _run(self, plan: Plan[T], fallback: T, do: Callable[[_Op], Any] | None = None) -> T:
        if not self._breaker.allow():
            self._stats.incr("breaker_skips")
            plan.close()
            return fallback
        do = do or self._do
        try:
            result = do(next(plan))
            while True:
                result = do(plan.send(result))
        except StopIteration as stop:
            self._recovered()
            return stop.value  # type: ignore[no-any-return]
        except InvalidRequestError:
            raise
        except Exception as exc:
            self._backend_failed(exc)
            return fallback

    async def _arun(self, plan: Plan[T], fallback: T) -> T:
        if not self._breaker.allow():
            self._stats.incr("breaker_skips")
            plan.close()
            return fallback
        try:
            result = await self._ado(next(plan))
            while True:
                result = await self._ado(plan.send(result))
        except StopIteration as stop:
            self._recovered()
            return stop.value  # type: ignore[no-any-return]
        except InvalidRequestError:
            raise
        except Exception as exc:
            self._backend_failed(exc)
            return fallback

    def _backend_failed(self, exc: Exception) -> None:
        self._stats.incr("errors")
        self._breaker.failure()
        if not self._failing:  # once per incident, not once per call
            self._failing = True
            logger.warning(
                "tiered-cache: backend failed, serving misses (%s: %s)", type(exc).__name__, exc
            )

    def _recovered(self) -> None:
        self._breaker.success()
        if self._failing:
            self._failing = False
            logger.warning("tiered-cache: backend recovered")

    def _observe(
        self, hit: CacheHit | None, started: float, request: CacheRequest | None = None
    ) -> CacheHit | None:
        elapsed = time.perf_counter() - started
        if hit is None:
            self._stats.observe_lookup("miss", elapsed)
            return None
        self._stats.observe_lookup(
            hit.tier, elapsed, hit.similarity if hit.tier == "semantic" else None
        )
        usage = hit.entry.usage
        if usage:
            model = request.partition.get("model") if request is not None else None
            self._stats.observe_saving(
                usage_tokens(usage)[2],
                self.prices.cost(model if isinstance(model, str) else None, usage),
            )
        return hit

    # -- public API --------------------------------------------------------------------------
    def lookup(self, request: CacheRequest) -> CacheHit | None:
        """The cached answer for `request`, or None. Backend failures are misses, never errors."""
        started = time.perf_counter()
        return self._observe(self._run(self._lookup_plan(request), None), started, request)

    async def alookup(self, request: CacheRequest) -> CacheHit | None:
        started = time.perf_counter()
        return self._observe(await self._arun(self._lookup_plan(request), None), started, request)

    def store(
        self,
        request: CacheRequest,
        payload: str,
        *,
        usage: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> bool:
        """Store `payload` for `request` (L1 always, L2 when deterministic). False if dropped."""
        stored = self._run(self._store_plan(request, payload, usage, ttl), False)
        if stored:
            self._stats.incr("stores")
        return stored

    async def astore(
        self,
        request: CacheRequest,
        payload: str,
        *,
        usage: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> bool:
        stored = await self._arun(self._store_plan(request, payload, usage, ttl), False)
        if stored:
            self._stats.incr("stores")
        return stored

    def get_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Computed],
        *,
        ttl: float | None = None,
    ) -> Served:
        """The cached payload, or `compute()` (a payload, or a payload and its usage) stored.

        Concurrent misses of one key compute once: threads of this process wait for the first
        caller; other processes wait on a Redis lease (up to `lease_wait` s, then compute).
        An exception from `compute` reaches the caller and frees the key for the next one.
        """
        plan = self._compute_plan(request, ttl)
        result: Any = None
        error: BaseException | None = None
        while True:  # like `_run`, but an exception (from `compute`) goes back into the plan
            try:
                step = plan.throw(error) if error is not None else plan.send(result)
            except StopIteration as stop:
                return cast(Served, stop.value)
            error = None
            try:
                result = self._step(step, compute)
            except BaseException as exc:
                error = exc

    async def aget_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Awaitable[Computed]],
        *,
        ttl: float | None = None,
    ) -> Served:
        plan = self._compute_plan(request, ttl)
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(result)
            except StopIteration as stop:
                return cast(Served, stop.value)
            error = None
            try:
                result = await self._astep(step, compute)
            except BaseException as exc:
                error = exc

    def _compute_plan(
        self, request: CacheRequest, ttl: float | None
    ) -> Generator[_Step, Any, Served]:
        """get_or_compute's decisions: serve a hit; else follow this process's leader for the
        key, or lead: take the cross-process lease (or poll for the holder's answer until
        `lease_wait`), compute, store, release, wake the followers."""
        hit = yield _Lookup(request, observed=True)
        if hit is not None:
            return Served(hit.payload, hit)
        started = time.perf_counter()
        key = request.exact_key
        if not (yield _Follow(key)):  # the leader has answered (or given up): look again
            hit = self._observe((yield _Lookup(request, observed=False)), started, request)
            return Served(hit.payload, hit) if hit is not None else self._served((yield _Compute()))
        token = uuid.uuid4().hex
        leased = False
        try:
            leased = yield _Lease(key, token, acquire=True)
            if not leased:  # another process computes: wait for its answer
                deadline = time.monotonic() + self.config.lease_wait
                while time.monotonic() < deadline:
                    yield _Pause(_LEASE_POLL)
                    hit = yield _Lookup(request, observed=False)
                    if hit is not None:
                        return Served(hit.payload, self._observe(hit, started, request))
            served = self._served((yield _Compute()))
            yield _Keep(request, served, ttl)
            return served
        finally:
            if leased:
                yield _Lease(key, token, acquire=False)
            yield _Land(key)

    def _step(self, step: _Step, compute: Callable[[], Computed]) -> Any:
        if isinstance(step, _Lookup):
            if step.observed:
                return self.lookup(step.request)
            return self._run(self._lookup_plan(step.request), None)
        if isinstance(step, _Follow):
            leader, event = self._flights.join(step.key)
            if not leader:
                event.wait(self.config.lease_wait)
            return leader
        if isinstance(step, _Lease):
            try:
                if step.acquire:
                    return self.kv.acquire_lease(step.key, step.token, self.config.lease_ms)
                return self.kv.release_lease(step.key, step.token)
            except Exception as exc:
                self._backend_failed(exc)
                return step.acquire
        if isinstance(step, _Pause):
            return time.sleep(step.seconds)
        if isinstance(step, _Compute):
            return compute()
        if isinstance(step, _Keep):
            served = step.served
            try:
                self.store(step.request, served.payload, usage=served.usage, ttl=step.ttl)
            except InvalidRequestError as exc:  # never lose a computed answer
                logger.warning("tiered-cache: not storing a computed answer (%s)", exc)
            return None
        return self._flights.done(step.key)

    async def _astep(self, step: _Step, compute: Callable[[], Awaitable[Computed]]) -> Any:
        if isinstance(step, _Lookup):
            if step.observed:
                return await self.alookup(step.request)
            return await self._arun(self._lookup_plan(step.request), None)
        if isinstance(step, _Follow):
            leader, event = self._flights.ajoin(step.key)
            if not leader:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), self.config.lease_wait)
            return leader
        if isinstance(step, _Lease):
            try:
                if step.acquire:
                    return await self.kv.aacquire_lease(step.key, step.token, self.config.lease_ms)
                return await self.kv.arelease_lease(step.key, step.token)
            except Exception as exc:
                self._backend_failed(exc)
                return step.acquire
        if isinstance(step, _Pause):
            return await asyncio.sleep(step.seconds)
        if isinstance(step, _Compute):
            return await compute()
        if isinstance(step, _Keep):
            served = step.served
            try:
                await self.astore(step.request, served.payload, usage=served.usage, ttl=step.ttl)
            except InvalidRequestError as exc:
                logger.warning("tiered-cache: not storing a computed answer (%s)", exc)
            return None
        return self._flights.adone(step.key)

    @staticmethod
    def _served(computed: Computed) -> Served:
        if isinstance(computed, str):
            return Served(computed, None)
        payload, usage = computed
        return Served(payload, None, usage)

    # -- quality: verifier, feedback, calibration -----------------------------------------------
    @property
    def verifier_cutoff(self) -> float | None:
        """The cut-off the verifier applies: the configured one, else the shipped one (None
        without a verifier)."""
        if self.verifier is None:
            return None
        configured = self.config.verifier_cutoff
        return self.verifier.cutoff if configured is None else configured

    def _verified(self, query: str, match: Match, counted: bool = True) -> bool:
        """Whether the verifier lets `match` answer `query`; rejections are counted."""
        assert self.verifier is not None
        if match.query_text is not None and self.verifier.accepts(
            query, match.query_text, match.similarity, self.verifier_cutoff
        ):
            return True
        if counted:
            self._stats.incr("verifier_rejections")
        return False

    def record_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        """Report whether a served semantic hit was right; the threshold of its partition (and
        the global one) adapts. Returns the partition's threshold now, or None when adaptation
        is off or the hit was exact. Backend failures are logged, never raised."""
        if self.thresholds is None or hit.tier != "semantic":
            return None
        try:
            return self.thresholds.record(self.kv, hit.partition, hit.similarity, correct)
        except Exception as exc:
            self._backend_failed(exc)
            return None

    async def arecord_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        if self.thresholds is None or hit.tier != "semantic":
            return None
        try:
            return await self.thresholds.arecord(self.kv, hit.partition, hit.similarity, correct)
        except Exception as exc:
            self._backend_failed(exc)
            return None

    def current_threshold(self, partition: str = "") -> float:
        """The similarity threshold lookups in `partition` use now ("" for the global one)."""
        if self.thresholds is None:
            return self.config.threshold
        for key in self.thresholds.stale_keys(partition):
            self.thresholds.loaded(key, self.kv.get(key))
        return self.thresholds.current(partition)

    def calibrate(
        self,
        pairs: Iterable[tuple[str, str, bool]],
        target_precision: float = 0.95,
        *,
        confidence: float = 0.95,
        apply: bool = True,
    ) -> CalibrationResult:
        """Choose the threshold (and verifier cut-off) from labelled (asked, stored, duplicate)
        pairs: the highest hit rate whose precision reaches the target with `confidence` (a
        lower confidence bound, so the choice holds beyond these pairs). `apply` sets them."""
        from .quality.calibrate import (
            calibrate_cache,
        )

        result = calibrate_cache(self, pairs, target_precision, confidence)
        if apply:
            changes: dict[str, Any] = {"threshold": result.threshold}
            if result.verifier_cutoff is not None:
                changes["verifier_cutoff"] = result.verifier_cutoff
            self.config = self.config.replace(**changes)
            logger.info("tiered-cache: calibrated: %s", result.summary())
        return result

    def explain(self, request: CacheRequest, k: int = 5) -> dict[str, Any]:
        """Read-only: what a lookup of `request` would serve and why (exact entry, the `k`
        nearest semantic candidates with similarity, threshold, verdict). Counts no hit."""
        from .quality.explain import explain

        return explain(self, request, k)

    def warm(self, items: Iterable[tuple[CacheRequest, str]], batch_size: int = 256) -> int:
        """Store many (request, payload) pairs: their questions are embedded in batches and
        their writes sent in bulk (pipelined on Redis). Returns how many were stored.
        """
        stored = 0
        for batch in _batched(items, batch_size):
            if self.embeddings is not None:
                texts = [r.query_text for r, _ in batch if r.semantic_allowed and r.query_text]
                self.embeddings.embed_many(texts)  # memoized: the plans below reuse them
            # The store plans decide as in `store`; only their writes are held back and sent
            # together (pipelined on Redis).
            writes: list[_Write] = []
            do = self._deferring(writes)
            plans = (self._store_plan(req, payload, None, None) for req, payload in batch)
            accepted = sum(self._run(plan, False, do) for plan in plans)
            if accepted and self._flushed(writes):
                self._stats.incr("stores", accepted)
                stored += accepted
        return stored

    def _flushed(self, writes: Sequence[_Write]) -> bool:
        """`_write`; a failure is counted and logged like any backend failure (False)."""
        try:
            self._write(writes)
        except Exception as exc:
            self._backend_failed(exc)
            return False
        self._recovered()
        return True

    def _deferring(self, writes: list[_Write]) -> Callable[[_Op], Any]:
        """A driver that runs a plan's reads and collects its writes in `writes`."""

        def do(op: _Op) -> Any:
            if isinstance(op, _Write):
                writes.append(op)
                return None
            return self._do(op)

        return do

    def clear(self) -> None:
        """Delete every entry of this cache's namespace and version, and nothing else."""
        self.kv.clear()
        if self._own_index is not None:
            self._own_index.clear()

    async def aclear(self) -> None:
        await self.kv.aclear()
        if self._own_index is not None:
            await self._own_index.aclear()

    def stats(self) -> dict[str, Any]:
        """Counters, latencies and the configuration that explains them."""
        snap = self._stats.snapshot()
        snap["config"] = {
            "namespace": self.config.namespace,
            "backend": "redis" if self.config.redis_url else "embedded",
            "semantic": self.index is not None,
            "threshold": self.config.threshold,
            "verifier_cutoff": self.verifier_cutoff,
            "adaptive_threshold": self.thresholds is not None,
            "normalization": self.normalizer.describe(),
        }
        if self.embeddings is not None:
            snap["embeddings"] = {
                "model": self.embeddings.embedder.model_id,
                "encode_calls": self.embeddings.encode_calls,
                "encoded_texts": self.embeddings.encoded_texts,
            }
        near = getattr(self.kv, "near", None)
        if near is not None:
            snap["near_cache"] = {"live": near.live, "entries": len(near), "served": near.served}
        return snap

    def close(self) -> None:
        self._stats.close()
        self.kv.close()
        if self._own_index is not None:
            self._own_index.close()

    async def aclose(self) -> None:
        """`close`, also closing the asyncio connections of the running loop."""
        self._stats.close()
        for backend in (self.kv, self._own_index):
            aclose = getattr(backend, "aclose", None)
            if aclose is not None:
                await aclose()
            elif backend is not None:
                backend.close()
