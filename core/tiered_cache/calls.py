"""What a framework adapter does around one model call: the call's options (`CallOptions`)
applied to the lookup and the store, and every cache failure kept out of the call.

`refresh` forgets the stored answer before anything else, `bypass` and `refresh` look nothing
up, `no_store` stores nothing, a call's threshold is applied to its request (`applied`), its
TTL, tags and sliding to its entry. A failure of the cache is a miss or a dropped write,
logged once per incident by the adapter's `Guard`: the model call itself never breaks.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .engine.plans import CacheHit
from .errors import InvalidRequestError
from .observability.incidents import Incidents
from .options import DEFAULT, CallOptions
from .request import CacheRequest

if TYPE_CHECKING:
    from .cache import TieredCache

Encoded = tuple[str, Mapping[str, Any] | None]
"""An answer as the cache stores it: its payload and its token usage (None: not reported)."""


def lookup(
    cache: TieredCache, request: CacheRequest, options: CallOptions = DEFAULT, *, lead: bool = False
) -> CacheHit | None:
    """The hit for `request` under `options` (`lead`: see `TieredCache.lookup`); unguarded."""
    if options.refresh:
        cache.forget(request)
    if not options.looks_up:
        return None
    return cache.lookup(options.applied(request), lead=lead)


async def alookup(
    cache: TieredCache, request: CacheRequest, options: CallOptions = DEFAULT, *, lead: bool = False
) -> CacheHit | None:
    if options.refresh:
        await cache.aforget(request)
    if not options.looks_up:
        return None
    return await cache.alookup(options.applied(request), lead=lead)


def coalesces(options: CallOptions) -> bool:
    """Whether a call joins its request's single flight: only one that looks up (a bypass or a
    refresh wants the model's own answer) and stores (a `no_store` call has none to share)."""
    return options.looks_up and options.stores


class Guard:
    """Keeps cache failures out of a model call: `with guard("lookup"): ...` swallows an
    exception raised inside. A request the core refuses (`InvalidRequestError`) is logged at
    INFO when `refusals_at_info`, else like any other failure: recorded in `incidents` (the
    first of an incident logged at WARNING, with its traceback when `traceback`). A block that
    completes ends the incident. KeyboardInterrupt, CancelledError and the like pass through."""

    __slots__ = ("incidents", "refusals_at_info", "traceback")

    def __init__(
        self, incidents: Incidents, *, refusals_at_info: bool = False, traceback: bool = False
    ) -> None:
        self.incidents = incidents
        self.refusals_at_info = refusals_at_info
        self.traceback = traceback

    def __call__(self, action: str) -> Guarded:
        return Guarded(self, action)

    def failed(self, exc: BaseException, action: str) -> None:
        """Record that `action` failed with `exc`; the call carries on without the cache."""
        if self.refusals_at_info and isinstance(exc, InvalidRequestError):
            self.incidents.logger.info("tiered-cache: %s skipped: %s", action, exc)
            return
        self.incidents.failed(exc, action, traceback=self.traceback)

    def ok(self) -> None:
        self.incidents.ok()


class Guarded:
    """One `with` block of a `Guard` (a class: a generator context manager costs a hit about a
    microsecond)."""

    __slots__ = ("action", "guard")

    def __init__(self, guard: Guard, action: str) -> None:
        self.guard = guard
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc is None:
            self.guard.ok()
            return False
        if isinstance(exc, Exception):
            self.guard.failed(exc, self.action)
            return True
        return False  # not ours to swallow


class CallCache:
    """A core cache as an adapter's calls use it: each call's options applied, every failure
    a miss or a dropped write (see the module)."""

    __slots__ = ("cache", "guard")

    def __init__(self, cache: TieredCache, guard: Guard) -> None:
        self.cache = cache
        self.guard = guard

    def lookup(
        self, request: CacheRequest, options: CallOptions = DEFAULT, *, lead: bool = False
    ) -> CacheHit | None:
        """The hit for `request` under `options`, or None (a miss, or any failure)."""
        with self.guard("lookup"):
            return lookup(self.cache, request, options, lead=lead)
        return None

    async def alookup(
        self, request: CacheRequest, options: CallOptions = DEFAULT, *, lead: bool = False
    ) -> CacheHit | None:
        with self.guard("lookup"):
            return await alookup(self.cache, request, options, lead=lead)
        return None

    @contextlib.contextmanager
    def flight(
        self, request: CacheRequest, options: CallOptions = DEFAULT, *, coalesce: bool | None = None
    ) -> Iterator[CacheHit | None]:
        """`lookup` as a single flight (`TieredCache.flight`): on a miss the first caller gets
        None and must store its answer inside the block; concurrent callers of the request wait
        for it and get it as a hit. The key is freed when the block ends, whatever happens.
        `coalesce` (default: `coalesces(options)`) False: a plain `lookup`, no flight."""
        if not (coalesces(options) if coalesce is None else coalesce):
            yield self.lookup(request, options)
            return
        with contextlib.ExitStack() as landing:
            hit = None
            with self.guard("lookup"):
                hit = landing.enter_context(self.cache.flight(options.applied(request)))
            yield hit

    @contextlib.asynccontextmanager
    async def aflight(
        self, request: CacheRequest, options: CallOptions = DEFAULT, *, coalesce: bool | None = None
    ) -> AsyncIterator[CacheHit | None]:
        if not (coalesces(options) if coalesce is None else coalesce):
            yield await self.alookup(request, options)
            return
        async with contextlib.AsyncExitStack() as landing:
            hit = None
            with self.guard("lookup"):
                hit = await landing.enter_async_context(
                    self.cache.aflight(options.applied(request))
                )
            yield hit

    def store(
        self,
        request: CacheRequest,
        encode: Callable[[], Encoded | None],
        options: CallOptions = DEFAULT,
    ) -> bool:
        """Store the answer `encode()` gives (None: not storable) unless the call is
        `no_store` (then `encode` is never called). False when nothing was stored."""
        if not options.stores:
            return False
        with self.guard("store"):
            encoded = encode()
            if encoded is None:
                return False
            payload, usage = encoded
            return self.cache.store(request, payload, usage=usage, **options.store_kwargs())
        return False

    async def astore(
        self,
        request: CacheRequest,
        encode: Callable[[], Encoded | None],
        options: CallOptions = DEFAULT,
    ) -> bool:
        if not options.stores:
            return False
        with self.guard("store"):
            encoded = encode()
            if encoded is None:
                return False
            payload, usage = encoded
            kwargs = options.store_kwargs()
            return await self.cache.astore(request, payload, usage=usage, **kwargs)
        return False
