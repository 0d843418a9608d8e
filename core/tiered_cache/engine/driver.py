"""Drivers: run plans on the backends, sync (`run`) and async (`arun`), and own the failure policy.

The I/O edge is `do`/`ado`: the exceptions a backend names in `errors` (and connection errors)
become `BackendError` there, and only those are misses: counted, logged once per incident, fed
to the circuit breaker. Anything else is a bug: logged with its traceback and counted as an
internal error, never opening the breaker (the request still degrades to a miss).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar, cast

from ..backends.protocols import AsyncClose, Backends, VectorIndex, WriteItem
from ..config import CacheConfig
from ..embeddings.embedder import EmbeddingService
from ..entry import CacheEntry, CorruptEntryError
from ..errors import BackendError, InvalidRequestError
from ..invalidation import Selection
from ..observability.incidents import Incidents
from ..observability.stats import Stats
from ..request import CacheRequest
from .breaker import CircuitBreaker
from .flight import Flights, Lead
from .ops import (
    AskJudge,
    Compute,
    Delete,
    Embed,
    Follow,
    Get,
    Keep,
    Land,
    Lease,
    Lookup,
    Observe,
    Op,
    Pause,
    Plan,
    ReadState,
    Search,
    Served,
    Step,
    Touch,
    Write,
)
from .plans import CacheHit, Computed, Joined, Plans

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Failures of the network or the OS are backend failures whatever the backend says.
_IO_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


class Hooks(Protocol):
    """Observers of a cache's lookups and stores (record/replay is one): `missed` may raise to
    stop the caller (a BaseException passes every failure policy), `storing` may refuse a
    store, `stored` sees each one that was written."""

    def missed(self, request: CacheRequest) -> None: ...
    def storing(self, request: CacheRequest) -> bool: ...
    def stored(self, request: CacheRequest, payload: str, usage: Any) -> None: ...


class Driver:
    """Runs plans on `backends`; sync and async twins share the plans and the failure policy."""

    def __init__(
        self,
        backends: Backends,
        embeddings: EmbeddingService | None,
        plans: Plans,
        stats: Stats,
        config: Callable[[], CacheConfig],
        hooks: Hooks | None = None,
    ) -> None:
        self.backends = backends
        self.hooks = hooks
        self.embeddings = embeddings
        self.plans = plans
        self.stats = stats
        self._config = config
        cfg = config()
        self.breaker = CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown)
        self.flights = Flights()
        self.incidents = Incidents("core", logger)
        errors: list[type[BaseException]] = [*_IO_ERRORS]
        packages: list[str] = []
        for backend in (backends.entries, backends.aux, backends.index):
            if backend is not None:
                errors += backend.errors
                packages += backend.error_packages
        self._errors = tuple(dict.fromkeys(errors))
        self._packages = _package_dirs(dict.fromkeys(packages))

    # -- the I/O edge ------------------------------------------------------------------------------
    def mapped(self, exc: Exception) -> Exception:
        """What to raise for `exc`, raised at the I/O edge: backend failures become
        `BackendError` (chained to `exc`); anything else is itself."""
        if isinstance(exc, (BackendError, InvalidRequestError)):
            return exc
        if isinstance(exc, self._errors) or self._raised_by_client(exc):
            error = BackendError(f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return error
        return exc

    @contextlib.contextmanager
    def edge(self) -> Iterator[None]:
        """Backend failures raised inside become `BackendError`."""
        try:
            yield
        except Exception as exc:
            raise self.mapped(exc)  # noqa: B904 - `mapped` chains it

    def _raised_by_client(self, exc: BaseException) -> bool:
        """Whether `exc` was raised inside a backend's client library."""
        tb = exc.__traceback__
        if tb is None or not self._packages:
            return False
        while tb.tb_next is not None:
            tb = tb.tb_next
        filename = os.path.realpath(tb.tb_frame.f_code.co_filename)
        return filename.startswith(self._packages)

    def do(self, op: Op) -> Any:
        try:
            return self._do(op)
        except Exception as exc:  # the I/O edge (inline: a context manager costs a hit 1 us)
            raise self.mapped(exc)  # noqa: B904 - `mapped` chains it

    def _do(self, op: Op) -> Any:
        b = self.backends
        if isinstance(op, Get):
            return b.entries.get(op.key)
        if isinstance(op, Embed):
            return cast(EmbeddingService, self.embeddings).embed(op.text)
        if isinstance(op, Search):
            return cast(VectorIndex, b.index).search(op.partition, op.vector, op.k)
        if isinstance(op, Write):
            return self.write([op])
        if isinstance(op, ReadState):
            return b.aux.get(op.key)
        if isinstance(op, Touch):
            return b.entries.touch(op.key, op.ttl)
        if isinstance(op, Delete):
            b.entries.delete(op.key)
            if b.own_index is not None:
                b.own_index.delete(op.key)
            return None
        if isinstance(op, AskJudge):
            return self._judge_term(op)
        raise TypeError(f"unknown plan operation {op!r}")

    def _judge_term(self, op: AskJudge) -> float:
        verifier = self.plans.verifier
        assert verifier is not None, "a plan asked the judge without a verifier"
        return verifier.judge_term(op.query, op.candidate)

    async def ado(self, op: Op) -> Any:
        try:
            return await self._ado(op)
        except Exception as exc:  # the I/O edge (inline: a context manager costs a hit 1 us)
            raise self.mapped(exc)  # noqa: B904 - `mapped` chains it

    async def _ado(self, op: Op) -> Any:
        b = self.backends
        if isinstance(op, Get):
            return await b.entries.aget(op.key)
        if isinstance(op, Embed):
            return await cast(EmbeddingService, self.embeddings).aembed(op.text)
        if isinstance(op, Search):
            return await cast(VectorIndex, b.index).asearch(op.partition, op.vector, op.k)
        if isinstance(op, Write):
            return await self.awrite([op])
        if isinstance(op, ReadState):
            return await b.aux.aget(op.key)
        if isinstance(op, Touch):
            return await b.entries.atouch(op.key, op.ttl)
        if isinstance(op, Delete):
            await b.entries.adelete(op.key)
            if b.own_index is not None:
                await b.own_index.adelete(op.key)
            return None
        if isinstance(op, AskJudge):  # CPU work of a few ms: off the event loop
            return await asyncio.get_running_loop().run_in_executor(None, self._judge_term, op)
        raise TypeError(f"unknown plan operation {op!r}")

    @staticmethod
    def _items(writes: Sequence[Write]) -> list[WriteItem]:
        return [
            (
                w.entry.key,
                w.entry.value,
                w.entry.ttl,
                None if w.vector is None else (w.vector.partition, w.vector.vector, w.vector.text),
            )
            for w in writes
        ]

    def write(self, writes: Sequence[Write]) -> None:
        """Entries and their vectors: in bulk when the backend can, else one by one, in order
        (an embedded LRU may evict within a batch: its vectors must go with it)."""
        b = self.backends
        if b.bulk is not None:
            b.bulk.write_many(self._items(writes))
            return
        for w in writes:
            b.entries.set(w.entry.key, w.entry.value, w.entry.ttl)
            if w.vector is not None:
                a = w.vector
                cast(VectorIndex, b.index).add(a.key, a.partition, a.vector, a.text, a.ttl)

    async def awrite(self, writes: Sequence[Write]) -> None:
        b = self.backends
        if b.bulk is not None:
            await b.bulk.awrite_many(self._items(writes))
            return
        for w in writes:
            await b.entries.aset(w.entry.key, w.entry.value, w.entry.ttl)
            if w.vector is not None:
                a = w.vector
                await cast(VectorIndex, b.index).aadd(a.key, a.partition, a.vector, a.text, a.ttl)

    # -- running plans -----------------------------------------------------------------------------
    def run(self, plan: Plan[T], fallback: T, do: Callable[[Op], Any] | None = None) -> T:
        """The plan's result, or `fallback` when the backend failed (or the breaker is open)."""
        if not self.breaker.allow():
            self.stats.incr("breaker_skips")
            plan.close()
            return fallback
        do = do or self.do
        try:
            result = do(next(plan))
            while True:
                result = do(plan.send(result))
        except StopIteration as stop:
            self.recovered()
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            return self.failed(exc, fallback)

    async def arun(self, plan: Plan[T], fallback: T) -> T:
        if not self.breaker.allow():
            self.stats.incr("breaker_skips")
            plan.close()
            return fallback
        try:
            result = await self.ado(next(plan))
            while True:
                result = await self.ado(plan.send(result))
        except StopIteration as stop:
            self.recovered()
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            return self.failed(exc, fallback)

    def failed(self, exc: Exception, fallback: T) -> T:
        """The failure policy: a bad request raises, a backend failure is a miss, a bug is a
        miss logged with its traceback."""
        if isinstance(exc, InvalidRequestError):
            raise exc
        if isinstance(exc, BackendError):
            self.backend_failed(exc)
        else:
            self.stats.incr("internal_errors")
            logger.error(
                "tiered-cache: internal error, serving a miss (please report it)",
                exc_info=exc,
                extra={"tiered_cache_internal": True},
            )
        return fallback

    def backend_failed(self, exc: Exception) -> None:
        self.stats.incr("errors")
        self.breaker.failure()
        self.incidents.failed(exc, "backend")

    def recovered(self) -> None:
        self.breaker.success()
        self.incidents.ok()

    def guarded(self, call: Callable[[], T], fallback: T) -> T:
        """`call()` at the I/O edge under the failure policy (auxiliary reads and writes)."""
        if not self.breaker.allow():
            self.stats.incr("breaker_skips")
            return fallback
        try:
            with self.edge():
                result = call()
        except Exception as exc:
            return self.failed(exc, fallback)
        self.recovered()
        return result

    async def aguarded(self, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        if not self.breaker.allow():
            self.stats.incr("breaker_skips")
            return fallback
        try:
            with self.edge():
                result = await call()
        except Exception as exc:
            return self.failed(exc, fallback)
        self.recovered()
        return result

    # -- the public operations ---------------------------------------------------------------------
    def _looked_up(
        self, hit: CacheHit | None, started: float, request: CacheRequest
    ) -> CacheHit | None:
        if hit is None and self.hooks is not None:
            self.hooks.missed(request)
        return self.plans.observe(hit, started, request)

    def lookup(self, request: CacheRequest) -> CacheHit | None:
        started = time.perf_counter()
        return self._looked_up(self.run(self.plans.lookup(request), None), started, request)

    async def alookup(self, request: CacheRequest) -> CacheHit | None:
        started = time.perf_counter()
        hit = await self.arun(self.plans.lookup(request), None)
        return self._looked_up(hit, started, request)

    def _stored(self, stored: bool, request: CacheRequest, payload: str, usage: Any) -> bool:
        if stored:
            self.stats.incr("stores")
            if self.hooks is not None:
                self.hooks.stored(request, payload, usage)
        return stored

    def store(
        self,
        request: CacheRequest,
        payload: str,
        usage: Any,
        ttl: float | None,
        tags: Sequence[str] = (),
        sliding: bool | None = None,
    ) -> bool:
        if self.hooks is not None and not self.hooks.storing(request):
            return False
        plan = self.plans.store(request, payload, usage, ttl, tags, sliding)
        return self._stored(self.run(plan, False), request, payload, usage)

    async def astore(
        self,
        request: CacheRequest,
        payload: str,
        usage: Any,
        ttl: float | None,
        tags: Sequence[str] = (),
        sliding: bool | None = None,
    ) -> bool:
        if self.hooks is not None and not self.hooks.storing(request):
            return False
        plan = self.plans.store(request, payload, usage, ttl, tags, sliding)
        return self._stored(await self.arun(plan, False), request, payload, usage)

    def get_or_compute(
        self, request: CacheRequest, compute: Callable[[], Computed], ttl: float | None
    ) -> Served:
        return _stepped(self.plans.compute(request, ttl), lambda step: self._step(step, compute))

    async def aget_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Awaitable[Computed]],
        ttl: float | None,
    ) -> Served:
        return await self._astepped(self.plans.compute(request, ttl), compute)

    # -- single-flight for callers that compute themselves (streams, a framework's lookup/update)
    def led(self, request: CacheRequest) -> Joined:
        """A lookup that leads on a miss (see `Plans.led`)."""
        return _stepped(self.plans.led(request), self._step)

    async def aled(self, request: CacheRequest) -> Joined:
        return await self._astepped(self.plans.led(request))

    def lead(self, request: CacheRequest) -> bool:
        _, lead = _stepped(self.plans.join(request), self._step)
        return lead is not None

    async def alead(self, request: CacheRequest) -> bool:
        _, lead = await self._astepped(self.plans.join(request))
        return lead is not None

    def landed(self, lead: Lead) -> None:
        _stepped(self.plans.land(lead), self._step)

    async def alanded(self, lead: Lead) -> None:
        await self._astepped(self.plans.land(lead))

    def land(self, request: CacheRequest) -> bool:
        """Land the lead the calling thread holds on `request`'s key; False when it holds none."""
        lead = self.flights.held(request.exact_key, threading.get_ident())
        if lead is not None:
            self.landed(lead)
        return lead is not None

    async def aland(self, request: CacheRequest) -> bool:
        """Land the lead the current task holds on `request`'s key; False when it holds none."""
        owner = asyncio.current_task() or asyncio.get_running_loop()
        lead = self.flights.held(request.exact_key, owner)
        if lead is not None:
            await self.alanded(lead)
        return lead is not None

    async def _astepped(
        self,
        plan: Generator[Step, Any, T],
        compute: Callable[[], Awaitable[Computed]] | None = None,
    ) -> T:
        """`_stepped`, awaiting each step."""
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(result)
            except StopIteration as stop:
                return cast(T, stop.value)
            error = None
            try:
                result = await self._astep(step, compute)
            except BaseException as exc:
                error = exc

    def _lease(self, step: Lease, call: Callable[[], Any]) -> Any:
        try:
            with self.edge():
                return call()
        except BackendError as exc:  # nothing to coordinate with: compute
            self.backend_failed(exc)
            return step.acquire

    def _step(self, step: Step, compute: Callable[[], Computed] | None = None) -> Any:
        cfg = self._config()
        if isinstance(step, Lookup):
            return self.run(self.plans.lookup(step.request, exact_only=step.exact_only), None)
        if isinstance(step, Observe):
            return self._looked_up(step.hit, step.started, step.request)
        if isinstance(step, Follow):
            leads, lead = self.flights.join(step.key, cfg.lease_ms / 1000)
            if leads:
                return lead
            assert isinstance(lead.done, threading.Event)
            lead.done.wait(max(0.0, min(step.wait, lead.expires - time.monotonic())))
            return None
        if isinstance(step, Lease):
            leases = self.backends.leases
            if leases is None:
                return step.acquire
            if step.acquire:
                return self._lease(
                    step, lambda: leases.acquire_lease(step.key, step.token, cfg.lease_ms)
                )
            return self._lease(step, lambda: leases.release_lease(step.key, step.token))
        if isinstance(step, Pause):
            return time.sleep(step.seconds)
        if isinstance(step, Compute):
            assert compute is not None, "only get_or_compute computes"
            return compute()
        if isinstance(step, Keep):
            with _keeping():
                self.store(step.request, step.served.payload, step.served.usage, step.ttl)
            return None
        if isinstance(step, Land):
            return self.flights.land(step.lead)
        raise TypeError(f"unknown single-flight step {step!r}")

    async def _astep(
        self, step: Step, compute: Callable[[], Awaitable[Computed]] | None = None
    ) -> Any:
        cfg = self._config()
        if isinstance(step, Lookup):
            plan = self.plans.lookup(step.request, exact_only=step.exact_only)
            return await self.arun(plan, None)
        if isinstance(step, Observe):
            return self._looked_up(step.hit, step.started, step.request)
        if isinstance(step, Follow):
            leads, lead = self.flights.ajoin(step.key, cfg.lease_ms / 1000)
            if leads:
                return lead
            assert isinstance(lead.done, asyncio.Event)
            wait = max(0.0, min(step.wait, lead.expires - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lead.done.wait(), wait)
            return None
        if isinstance(step, Lease):
            leases = self.backends.leases
            if leases is None:
                return step.acquire
            try:
                with self.edge():
                    if step.acquire:
                        return await leases.aacquire_lease(step.key, step.token, cfg.lease_ms)
                    return await leases.arelease_lease(step.key, step.token)
            except BackendError as exc:
                self.backend_failed(exc)
                return step.acquire
        if isinstance(step, Pause):
            return await asyncio.sleep(step.seconds)
        if isinstance(step, Compute):
            assert compute is not None, "only get_or_compute computes"
            return await compute()
        if isinstance(step, Keep):
            with _keeping():
                await self.astore(step.request, step.served.payload, step.served.usage, step.ttl)
            return None
        if isinstance(step, Land):
            return self.flights.land(step.lead)
        raise TypeError(f"unknown single-flight step {step!r}")

    # -- bulk warm and feedback ------------------------------------------------------------------
    def warm(self, items: Iterable[tuple[CacheRequest, str]], batch_size: int) -> int:
        """The store plans decide as in `store`; only their writes are held back and sent
        together (pipelined on Redis), after the batch's questions are embedded at once."""
        stored = 0
        for batch in _batched(items, batch_size):
            if self.embeddings is not None:
                texts = [r.query_text for r, _ in batch if r.semantic_allowed and r.query_text]
                self.embeddings.embed_many(texts)  # memoized: the plans below reuse them
            writes: list[Write] = []

            def deferring(op: Op, writes: list[Write] = writes) -> Any:
                if isinstance(op, Write):
                    return writes.append(op)
                return self.do(op)

            plans = (self.plans.store(req, payload, None, None) for req, payload in batch)
            accepted = sum(self.run(plan, False, deferring) for plan in plans)
            if accepted and self.guarded(partial(self._flushed, writes), False):
                self.stats.incr("stores", accepted)
                stored += accepted
        return stored

    def _flushed(self, writes: list[Write]) -> bool:
        self.write(writes)
        return True

    def record_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        thresholds = self.plans.thresholds
        if thresholds is None or hit.tier != "semantic":
            return None
        aux = self.backends.aux
        return self.guarded(
            lambda: thresholds.record(aux, hit.partition, hit.similarity, correct), None
        )

    async def arecord_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        thresholds = self.plans.thresholds
        if thresholds is None or hit.tier != "semantic":
            return None
        aux = self.backends.aux
        return await self.aguarded(
            lambda: thresholds.arecord(aux, hit.partition, hit.similarity, correct), None
        )

    def current_threshold(self, partition: str) -> float:
        thresholds = self.plans.thresholds
        if thresholds is None:
            return self._config().similarity_threshold
        try:
            with self.edge():
                for key in thresholds.stale_keys(partition):
                    thresholds.loaded(key, self.backends.aux.get(key))
        except BackendError as exc:  # the threshold this process knows
            self.backend_failed(exc)
        return thresholds.current(partition)

    # -- admin ------------------------------------------------------------------------------------
    def forget(self, request: CacheRequest) -> bool:
        return self.run(self.plans.forget(request), False)

    async def aforget(self, request: CacheRequest) -> bool:
        return await self.arun(self.plans.forget(request), False)

    # -- targeted invalidation (an admin operation: a backend failure raises) --------------------
    def _selected(self, rows: list[tuple[str, bytes]], selection: Selection) -> list[str]:
        now = time.time()
        keys = []
        for key, raw in rows:
            try:
                entry = CacheEntry.from_json(raw)
            except CorruptEntryError:
                continue  # a read drops it
            if selection.matches(entry, now):
                keys.append(key)
        return keys

    def invalidate(self, selection: Selection, dry_run: bool) -> int:
        b = self.backends
        with self.edge():
            keys = self._selected(b.entries.entries(), selection)
            if dry_run or not keys:
                return len(keys)
            deleted = b.entries.delete_many(keys)
            if b.own_index is not None:
                for key in keys:
                    b.own_index.delete(key)
        self.stats.incr("invalidated", deleted)
        return deleted

    async def ainvalidate(self, selection: Selection, dry_run: bool) -> int:
        b = self.backends
        with self.edge():
            keys = self._selected(await b.entries.aentries(), selection)
            if dry_run or not keys:
                return len(keys)
            deleted = await b.entries.adelete_many(keys)
            if b.own_index is not None:
                for key in keys:
                    await b.own_index.adelete(key)
        self.stats.incr("invalidated", deleted)
        return deleted

    def clear(self, aux: bool) -> None:
        """Delete everything (a failing backend raises `BackendError`: the caller asked)."""
        b = self.backends
        with self.edge():
            b.entries.clear()
            if b.own_index is not None:
                b.own_index.clear()
            if aux:
                b.aux.clear()

    async def aclear(self, aux: bool) -> None:
        b = self.backends
        with self.edge():
            await b.entries.aclear()
            if b.own_index is not None:
                await b.own_index.aclear()
            if aux:
                await b.aux.aclear()

    def snapshot(self) -> dict[str, Any]:
        """The counters and latencies, with the settings that explain them."""
        cfg = self._config()
        snap = self.stats.snapshot()
        snap["config"] = {
            "namespace": cfg.namespace,
            "backend": "redis" if cfg.redis_url else "embedded",
            "semantic": self.plans.semantic,
            "threshold": cfg.similarity_threshold,
            "verifier_cutoff": self.plans.verifier_cutoff,
            "adaptive_threshold": self.plans.thresholds is not None,
        }
        snap["similarities"] = self.stats.similarities()
        if self.embeddings is not None:
            snap["embeddings"] = {
                "model": self.embeddings.embedder.model_id,
                "encode_calls": self.embeddings.encode_calls,
                "encoded_texts": self.embeddings.encoded_texts,
            }
        near = self.backends.near
        if near is not None:
            snap["near_cache"] = {"live": near.live, "entries": len(near), "served": near.served}
        return snap

    def close(self) -> None:
        self.stats.close()
        self.backends.entries.close()
        if self.backends.own_index is not None:
            self.backends.own_index.close()

    async def aclose(self) -> None:
        self.stats.close()
        for backend in (self.backends.entries, self.backends.own_index):
            if isinstance(backend, AsyncClose):
                await backend.aclose()
            elif backend is not None:
                backend.close()


@contextlib.contextmanager
def _keeping() -> Iterator[None]:
    """A computed answer that cannot be stored is still returned."""
    try:
        yield
    except InvalidRequestError as exc:
        logger.warning("tiered-cache: not storing a computed answer (%s)", exc)


def _stepped(plan: Generator[Step, Any, T], step: Callable[[Step], Any]) -> T:
    """Run a single-flight plan; an exception (from `compute`) goes back into the plan, so
    that its `finally` releases the lease and wakes the followers."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            next_step = plan.throw(error) if error is not None else plan.send(result)
        except StopIteration as stop:
            return cast(T, stop.value)
        error = None
        try:
            result = step(next_step)
        except BaseException as exc:
            error = exc


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _package_dirs(names: Iterable[str]) -> tuple[str, ...]:
    """The directories the client packages `names` are installed in (with a trailing
    separator): an exception raised in them is the backend's failure. Matched by where the
    package lives, not by a name in the path (our own `backends/redis/` is not `redis`)."""
    dirs: list[str] = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(os.path.join(os.path.realpath(location), ""))
    return tuple(dirs)
