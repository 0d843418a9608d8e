"""The driver: a cache's lookups, stores and single flights, over the parts that do the work.

- `edge.ErrorEdge` / `edge.FailurePolicy`: what a backend failure is, and what it costs a call;
- `runner.Runner`: each plan's operations on the backends (sync `run`, async `arun`);
- `admin.Admin`: warm, feedback, invalidation, clear, the stats snapshot, close;
- here: the lookup and store entry points, and the single-flight steps (`flight.Flights` for
  this process, leases on the backend for the others), stepped by one loop a side.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any, Protocol, TypeVar, cast

from ..backends.protocols import Backends
from ..config import CacheConfig
from ..embeddings.embedder import EmbeddingService
from ..errors import BackendError, InvalidRequestError
from ..observability.stats import Stats
from ..request import CacheRequest
from .admin import Admin
from .breaker import CircuitBreaker
from .edge import ErrorEdge, FailurePolicy
from .flight import Flights, Lead
from .ops import Compute, Computed, Follow, Keep, Land, Lease, Lookup, Observe, Pause, Served, Step
from .plans import CacheHit, Joined, Plans
from .runner import Runner

logger = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=Callable[..., Any])


def _takes_request(method: M) -> M:
    """A clear one-line error when a caller passes something else than a `CacheRequest` (a
    string, a message list): raised before any plan runs, so it is never mistaken for an
    internal error and served as a miss."""
    name = {"led": "lookup", "aled": "alookup"}.get(method.__name__, method.__name__)

    @functools.wraps(method)
    def checked(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(request, CacheRequest):
            raise TypeError(
                f"{name}() takes a CacheRequest (build one with cache.request(messages, "
                f"model=...)), got {type(request).__name__}"
            )
        return method(self, request, *args, **kwargs)

    return cast(M, checked)


class Hooks(Protocol):
    """Observers of a cache's lookups and stores (record/replay is one): `missed` may raise to
    stop the caller (a BaseException passes every failure policy), `storing` may refuse a
    store, `stored` sees each one that was written."""

    def missed(self, request: CacheRequest) -> None: ...
    def storing(self, request: CacheRequest) -> bool: ...
    def stored(self, request: CacheRequest, payload: str, usage: Any) -> None: ...


class Driver:
    """A cache's lookups, stores and single flights; `runner`, `policy`, `edge` and `admin`
    are its parts (see the module's docstring)."""

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
        self.plans = plans
        self.stats = stats
        self._config = config
        cfg = config()
        present = [b for b in (backends.entries, backends.aux, backends.index) if b is not None]
        self.edge = ErrorEdge(
            [e for b in present for e in b.errors], [p for b in present for p in b.error_packages]
        )
        self.policy = FailurePolicy(
            stats, CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown), self.edge
        )
        self.runner = Runner(backends, embeddings, plans, self.edge, self.policy)
        self.admin = Admin(self.runner, stats, config)
        self.flights = Flights()

    # -- the public operations ---------------------------------------------------------------------
    def _looked_up(
        self, hit: CacheHit | None, started: float, request: CacheRequest
    ) -> CacheHit | None:
        if hit is None and self.hooks is not None:
            self.hooks.missed(request)
        return self.plans.observe(hit, started, request)

    @_takes_request
    def lookup(self, request: CacheRequest) -> CacheHit | None:
        started = time.perf_counter()
        return self._looked_up(self.runner.run(self.plans.lookup(request), None), started, request)

    @_takes_request
    async def alookup(self, request: CacheRequest) -> CacheHit | None:
        started = time.perf_counter()
        hit = await self.runner.arun(self.plans.lookup(request), None)
        return self._looked_up(hit, started, request)

    def _stored(self, stored: bool, request: CacheRequest, payload: str, usage: Any) -> bool:
        if stored:
            self.stats.incr("stores")
            if self.hooks is not None:
                self.hooks.stored(request, payload, usage)
        return stored

    @_takes_request
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
        return self._stored(self.runner.run(plan, False), request, payload, usage)

    @_takes_request
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
        return self._stored(await self.runner.arun(plan, False), request, payload, usage)

    @_takes_request
    def get_or_compute(
        self, request: CacheRequest, compute: Callable[[], Computed], ttl: float | None
    ) -> Served:
        return _stepped(self.plans.compute(request, ttl), lambda step: self._step(step, compute))

    @_takes_request
    async def aget_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Awaitable[Computed]],
        ttl: float | None,
    ) -> Served:
        return await self._astepped(self.plans.compute(request, ttl), compute)

    # -- single-flight for callers that compute themselves (streams, a framework's lookup/update)
    @_takes_request
    def led(self, request: CacheRequest) -> Joined:
        """A lookup that leads on a miss (see `Plans.led`). A hit, the common case, is served
        without stepping the single-flight plan (-2 µs of an exact hit's ~15)."""
        started = time.perf_counter()
        hit = self.runner.run(self.plans.lookup(request), None)
        if hit is not None:
            return self._looked_up(hit, started, request), None
        return _stepped(self.plans.led(request, missed_at=started), self._step)

    @_takes_request
    async def aled(self, request: CacheRequest) -> Joined:
        started = time.perf_counter()
        hit = await self.runner.arun(self.plans.lookup(request), None)
        if hit is not None:
            return self._looked_up(hit, started, request), None
        return await self._astepped(self.plans.led(request, missed_at=started))

    @_takes_request
    def lead(self, request: CacheRequest) -> bool:
        _, lead = _stepped(self.plans.join(request), self._step)
        return lead is not None

    @_takes_request
    async def alead(self, request: CacheRequest) -> bool:
        _, lead = await self._astepped(self.plans.join(request))
        return lead is not None

    def landed(self, lead: Lead) -> None:
        _stepped(self.plans.land(lead), self._step)

    async def alanded(self, lead: Lead) -> None:
        await self._astepped(self.plans.land(lead))

    @_takes_request
    def land(self, request: CacheRequest) -> bool:
        """Land the lead the calling thread holds on `request`'s key; False when it holds none."""
        lead = self.flights.held(request.exact_key, threading.get_ident())
        if lead is not None:
            self.landed(lead)
        return lead is not None

    @_takes_request
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
            with self.edge:
                return call()
        except BackendError as exc:  # nothing to coordinate with: compute
            self.policy.backend_failed(exc)
            return step.acquire

    def _step(self, step: Step, compute: Callable[[], Computed] | None = None) -> Any:
        cfg = self._config()
        if isinstance(step, Lookup):
            plan = self.plans.lookup(step.request, exact_only=step.exact_only)
            return self.runner.run(plan, None)
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
            return await self.runner.arun(plan, None)
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
                with self.edge:
                    if step.acquire:
                        return await leases.aacquire_lease(step.key, step.token, cfg.lease_ms)
                    return await leases.arelease_lease(step.key, step.token)
            except BackendError as exc:
                self.policy.backend_failed(exc)
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

    @_takes_request
    def forget(self, request: CacheRequest) -> bool:
        return self.runner.run(self.plans.forget(request), False)

    @_takes_request
    async def aforget(self, request: CacheRequest) -> bool:
        return await self.runner.arun(self.plans.forget(request), False)


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
