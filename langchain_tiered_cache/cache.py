"""The LangChain `BaseCache` over a core `tiered_cache.TieredCache`."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, NoReturn

import tiered_cache
from langchain_core.caches import BaseCache
from langchain_core.outputs import Generation
from tiered_cache import CacheHit, CacheRequest, CallCache, Encoded, Guard, Served
from tiered_cache.observability.incidents import Incidents
from tiered_cache.options import DEFAULT, OPTION, CallOptions

from .options import context_options
from .parse import parse_call
from .serialize import (
    answer_text,
    dump_generations,
    load_generations,
    mark_hit,
    renew_ids,
    usage_of,
)

logger = logging.getLogger(__name__)
_REMEMBERED_REQUESTS = 1024
"""Requests remembered by their (prompt, llm_string), most recently used first."""
_REMEMBER_MAX_CHARS = 32_768
"""Longer calls are rebuilt each time rather than held in memory."""
Answered = Sequence[Generation] | Callable[[], Sequence[Generation]] | None
"""A call's own answer for an audit of a miss: the generations, or a function that gives them."""
_NOT_LANGGRAPH_S = (
    "langchain_tiered_cache.TieredLLMCache is LangChain's LLM cache, not LangGraph's: for "
    "graph.compile(cache=...) pass langchain_tiered_cache.GraphCache(cache) instead"
)


class TieredLLMCache(BaseCache):
    """Exact + semantic LLM cache for LangChain: `set_llm_cache(TieredLLMCache())` or `cache=`.

    `TieredLLMCache(**settings)` embeds a core cache (settings are `tiered_cache.CacheConfig`
    fields); `TieredLLMCache.from_url(url, ...)` uses Redis; `TieredLLMCache(cache=core)` wraps one.
    Lookups and updates never raise: failures are misses and dropped writes, logged.
    """

    def __init__(self, cache: tiered_cache.TieredCache | None = None, **settings: Any) -> None:
        self.core = tiered_cache.TieredCache.ensure(cache, settings)
        self._requests: OrderedDict[tuple[str, str], CacheRequest] = OrderedDict()
        self._requests_config: tiered_cache.CacheConfig | None = None
        self._lock = threading.Lock()
        # A request the core refuses is logged at INFO; any other failure once per incident,
        # with its traceback (the core's own backend failures never get here: they are misses).
        self._guard = Guard(Incidents("LangChain", logger), refusals_at_info=True, traceback=True)
        self.calls = CallCache(self.core, self._guard)
        self._warned_keyword = False

    @classmethod
    def from_url(cls, url: str, **settings: Any) -> TieredLLMCache:
        """A cache on Redis Stack / Redis 8: `from_url("redis://host:6379", namespace="app")`."""
        return cls(tiered_cache.TieredCache.from_url(url, **settings))

    def _request(self, prompt: str, llm_string: str) -> CacheRequest:
        # A repeated call passes the same two strings: its request is remembered, not rebuilt
        # (reviving the messages and hashing the partition cost more than the lookup itself).
        key = (prompt, llm_string)
        config = self.core.config
        with self._lock:
            if self._requests_config is not config:  # keys depend on the settings
                self._requests.clear()
                self._requests_config = config
            request = self._requests.get(key)
            if request is not None:
                self._requests.move_to_end(key)
                return request
        call = parse_call(prompt, llm_string)
        if OPTION in call.params and not self._warned_keyword:
            self._warned_keyword = True  # once: the caller's code repeats it on every call
            logger.warning(
                "tiered-cache: a %s= model keyword is sent to the provider and joins the key "
                "under set_llm_cache; pass the options in the run config's metadata "
                '(config={"metadata": {"%s": {...}}}), call_options(...), or use cached(model)',
                OPTION,
                OPTION,
            )
        request = self.core.request(
            call.messages, model=call.model, params=call.params, tools=call.tools
        )
        if call.exact_only:  # strings we could not read are only ever equal to themselves
            request = dataclasses.replace(request, deterministic=False)
        if len(prompt) + len(llm_string) <= _REMEMBER_MAX_CHARS:
            with self._lock:
                self._requests[key] = request
                if len(self._requests) > _REMEMBERED_REQUESTS:
                    self._requests.popitem(last=False)
        return request

    def _served(self, hit: CacheHit | None, *, assign_ids: bool) -> list[Generation] | None:
        """The generations of a hit, marked, with new message ids (see `renew_ids`)."""
        if hit is None:
            return None
        generations = load_generations(hit.payload)
        if generations is None:
            logger.warning("tiered-cache: ignoring a cached payload that holds no generations")
            return None
        mark_hit(generations, hit)
        renew_ids(generations, assign=assign_ids)
        return generations

    # -- what the chat-model wrapper (`cached`) adds: a request, per-call options ----------------
    def request_of(self, prompt: str, llm_string: str) -> CacheRequest | None:
        """The core request of a call (None when the core refuses it: the call goes uncached)."""
        with self._guard("lookup"):
            return self._request(prompt, llm_string)
        return None

    def lookup_request(
        self, request: CacheRequest, options: CallOptions = DEFAULT
    ) -> list[Generation] | None:
        """The hit for `request` under `options`; its message ids left for LangChain to set."""
        with self._guard("lookup"):
            return self._lookup(request, options, assign_ids=False)
        return None

    async def alookup_request(
        self, request: CacheRequest, options: CallOptions = DEFAULT
    ) -> list[Generation] | None:
        with self._guard("lookup"):
            return await self._alookup(request, options, assign_ids=False)
        return None

    @contextlib.contextmanager
    def flight_request(
        self, request: CacheRequest, options: CallOptions = DEFAULT
    ) -> Iterator[list[Generation] | None]:
        """`lookup_request` as a single flight: on a miss the first caller gets None and must
        store its answer inside the block; concurrent callers of the same request wait for it
        and get it as a hit. The key is freed when the block ends, whatever happens (a failed
        or abandoned call stores nothing: a waiter calls the model then)."""
        with self.flight_hit(request, options) as (generations, _):
            yield generations

    @contextlib.contextmanager
    def flight_hit(
        self, request: CacheRequest, options: CallOptions = DEFAULT
    ) -> Iterator[tuple[list[Generation] | None, CacheHit | None]]:
        """`flight_request`, with the core's hit too (for an audit)."""
        with self.calls.flight(request, options) as hit:
            generations = self._served_guarded(hit, assign_ids=False)
            yield generations, hit if generations is not None else None

    @contextlib.asynccontextmanager
    async def aflight_request(
        self, request: CacheRequest, options: CallOptions = DEFAULT
    ) -> AsyncIterator[list[Generation] | None]:
        async with self.aflight_hit(request, options) as (generations, _):
            yield generations

    @contextlib.asynccontextmanager
    async def aflight_hit(
        self, request: CacheRequest, options: CallOptions = DEFAULT
    ) -> AsyncIterator[tuple[list[Generation] | None, CacheHit | None]]:
        async with self.calls.aflight(request, options) as hit:
            generations = self._served_guarded(hit, assign_ids=False)
            yield generations, hit if generations is not None else None

    # -- audits under max_wrong_rate: `cached(model)` calls the model, so it can audit ----------
    def audit(
        self,
        request: CacheRequest,
        hit: CacheHit | None,
        answered: Answered,
        model: Callable[[], Sequence[Generation]],
        options: CallOptions = DEFAULT,
    ) -> None:
        """Maybe audit this call in the background (`max_wrong_rate` on): a served `hit`
        against `model()`'s fresh answer, or a miss (`answered`, free, or a function giving it:
        a stream's chunks are joined only when audits are on) against its nearest stored
        neighbour. Never raises; the answer has been returned already."""
        auditor = self.core.auditor
        if auditor is None:
            return
        with self._guard("audit"):
            served = self._audited(hit, answered)
            if served is not None:
                compute = lambda: self._fresh(model())  # noqa: E731
                auditor.after(request, served, compute, options.ttl, answer_text)

    async def aaudit(
        self,
        request: CacheRequest,
        hit: CacheHit | None,
        answered: Answered,
        model: Callable[[], Awaitable[Sequence[Generation]]],
        options: CallOptions = DEFAULT,
    ) -> None:
        auditor = self.core.auditor
        if auditor is None:
            return
        with self._guard("audit"):
            served = self._audited(hit, answered)
            if served is not None:

                async def compute() -> Encoded:
                    return self._fresh(await model())

                auditor.aafter(request, served, compute, options.ttl, answer_text)

    def _audited(self, hit: CacheHit | None, answered: Answered) -> Served | None:
        if hit is not None:
            return Served(hit.payload, hit)
        if callable(answered):
            answered = answered()
        encoded = None if answered is None else self.encode(answered)
        return None if encoded is None else Served(encoded[0], None)

    def _fresh(self, generations: Sequence[Generation]) -> Encoded:
        encoded = self.encode(generations)
        if encoded is None:
            raise ValueError("the model's fresh answer holds no storable generations")
        return encoded

    def _served_guarded(self, hit: CacheHit | None, *, assign_ids: bool) -> list[Generation] | None:
        with self._guard("lookup"):
            return self._served(hit, assign_ids=assign_ids)
        return None

    def _lookup(
        self, request: CacheRequest, options: CallOptions, *, assign_ids: bool, lead: bool = False
    ) -> list[Generation] | None:
        hit = self.calls.lookup(request, options, lead=lead)
        return self._served(hit, assign_ids=assign_ids)

    async def _alookup(
        self, request: CacheRequest, options: CallOptions, *, assign_ids: bool, lead: bool = False
    ) -> list[Generation] | None:
        hit = await self.calls.alookup(request, options, lead=lead)
        return self._served(hit, assign_ids=assign_ids)

    @staticmethod
    def encode(generations: Sequence[Generation]) -> Encoded | None:
        """The payload and usage of `generations` (None: not storable)."""
        payload = dump_generations(generations)
        if load_generations(payload) is None:  # empty, or objects LangChain cannot serialize
            logger.warning("tiered-cache: not storing generations that do not round-trip")
            return None
        return payload, usage_of(generations)

    def store_request(
        self,
        request: CacheRequest,
        generations: Sequence[Generation],
        options: CallOptions = DEFAULT,
    ) -> None:
        self.calls.store(request, lambda: self.encode(generations), options)

    async def astore_request(
        self,
        request: CacheRequest,
        generations: Sequence[Generation],
        options: CallOptions = DEFAULT,
    ) -> None:
        await self.calls.astore(request, lambda: self.encode(generations), options)

    # -- BaseCache: options from the run config (see `options.py`) ---------------------------------
    # Single flight: a miss leads its request's flight (concurrent identical lookups wait for it
    # and are served its answer); `update`, which LangChain calls in the same thread or task once
    # the model has answered, lands it. A model call that raises never reaches `update`: its
    # lead expires after `lease_ms` and its waiters call the model after `lease_wait`.
    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """The cached generations (a list), or None on a miss or any failure."""
        with self._guard("lookup"):
            options = context_options()
            request = self._request(prompt, llm_string)
            return self._lookup(request, options, assign_ids=True, lead=options.stores)
        return None

    async def alookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        with self._guard("lookup"):
            options = context_options()
            request = self._request(prompt, llm_string)
            return await self._alookup(request, options, assign_ids=True, lead=options.stores)
        return None

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        """Store the generations; a failure drops the write (logged), never the LLM call."""
        request = None
        try:
            with self._guard("store"):
                request = self._request(prompt, llm_string)
                options = context_options()
                if options.stores:
                    self.store_request(request, return_val, options)
        finally:
            if request is not None:
                with self._guard("store"):
                    self.core.land(request)

    async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        request = None
        try:
            with self._guard("store"):
                request = self._request(prompt, llm_string)
                options = context_options()
                if options.stores:
                    await self.astore_request(request, return_val, options)
        finally:
            if request is not None:
                with self._guard("store"):
                    await self.core.aland(request)

    def clear(self, **kwargs: Any) -> None:
        """Delete this cache's entries (its namespace and version only); with `tags=`,
        `model=`, `partition=` and/or `older_than=` (see `tiered_cache.TieredCache.invalidate`)
        only the entries that match. `dry_run=True` deletes nothing."""
        if kwargs:
            self.core.invalidate(**kwargs)
        else:
            self.core.clear()

    async def aclear(self, **kwargs: Any) -> None:
        if kwargs:
            await self.core.ainvalidate(**kwargs)
        else:
            await self.core.aclear()

    # -- extras ------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The core's counters: hits per tier, misses, tokens saved, configuration."""
        return self.core.stats()

    def close(self) -> None:
        self.core.close()

    def get(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Raises: a LangChain LLM cache, not LangGraph's (its `compile(cache=...)` calls `get`)."""
        raise TypeError(_NOT_LANGGRAPH_S)

    async def aget(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_NOT_LANGGRAPH_S)
