"""Single-flight for callers that call the model themselves: `lookup(lead=True)`/`land`,
`flight`/`aflight`, `lead`/`alead`. One model call per key however many callers ask at once;
the callers that waited are counted as coalesced hits, never as misses."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from tiered_cache import CacheRequest, TieredCache

from ..conftest import CacheFactory
from ..flights import DEADLINE, Joins

CALLERS = 8


class Model:
    """Counts calls; the first call fails when `fail` is set."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self.calls += 1
            failing = self.fail and self.calls == 1
        if failing:
            raise RuntimeError("model down")
        return "the answer"


def ask_sync(cache: TieredCache, req: CacheRequest, model: Model, joins: Joins) -> str:
    with cache.flight(req) as hit:
        if hit is not None:
            return hit.payload + (" (coalesced)" if hit.coalesced else "")
        joins.wait_for(CALLERS)
        answer = model()
        cache.store(req, answer)
        return answer


async def ask_async(cache: TieredCache, req: CacheRequest, model: Model, joins: Joins) -> str:
    async with cache.aflight(req) as hit:
        if hit is not None:
            return hit.payload + (" (coalesced)" if hit.coalesced else "")
        await joins.await_for(CALLERS)
        answer = model()
        await cache.astore(req, answer)
        return answer


def run_callers(mode: str, cache: TieredCache, req: CacheRequest, model: Model) -> list[str]:
    joins = Joins(cache)
    if mode == "async":

        async def main() -> list[str]:
            calls = (ask_async(cache, req, model, joins) for _ in range(CALLERS))
            return list(await asyncio.gather(*calls, return_exceptions=True))  # type: ignore[arg-type]

        return asyncio.run(main())
    out: list[Any] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            result: Any = ask_sync(cache, req, model, joins)
        except Exception as exc:
            result = exc
        with lock:
            out.append(result)

    threads = [threading.Thread(target=one) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    return out


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_concurrent_callers_share_one_model_call_and_count_coalesced_hits(
    make_cache: CacheFactory, mode: str
) -> None:
    cache = make_cache(semantic=False)
    req = cache.request("an expensive question", model="m")
    model = Model()
    results = run_callers(mode, cache, req, model)
    assert model.calls == 1
    assert sorted(results) == ["the answer"] + ["the answer (coalesced)"] * (CALLERS - 1)
    stats = cache.stats()
    assert (stats["misses"], stats["coalesced_hits"], stats["exact_hits"]) == (1, CALLERS - 1, 0)
    assert stats["lookups"] == CALLERS
    assert stats["hit_rate"] == pytest.approx((CALLERS - 1) / CALLERS)
    assert len(cache.driver.flights) == 0  # landed


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_leader_frees_the_key_and_a_waiter_leads(
    make_cache: CacheFactory, mode: str
) -> None:
    cache = make_cache(semantic=False)
    req = cache.request("a flaky question", model="m")
    model = Model(fail=True)
    results = run_callers(mode, cache, req, model)
    errors = [r for r in results if isinstance(r, Exception)]
    assert [str(e) for e in errors] == ["model down"]
    assert model.calls == 2  # the failed leader, then one waiter in its place
    answers = sorted(r for r in results if isinstance(r, str))
    assert answers == ["the answer"] + ["the answer (coalesced)"] * (CALLERS - 2)
    assert cache.stats()["misses"] == 2
    assert len(cache.driver.flights) == 0


def test_lookup_lead_then_land_frees_the_key_for_the_next_caller(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False, lease_wait=5.0)
    req = cache.request("a question", model="m")
    assert cache.lookup(req, lead=True) is None  # this thread leads
    assert cache.land(req) is True
    assert cache.land(req) is False  # nothing left to land
    started = time.monotonic()
    assert cache.lead(req) is True  # free again: no wait on the landed lead
    assert time.monotonic() - started < 1.0
    cache.store(req, "stored")
    assert cache.land(req) is True
    hit = cache.lookup(req, lead=True)
    assert hit is not None and (hit.payload, hit.tier, hit.coalesced) == ("stored", "exact", False)
    assert cache.land(req) is False  # a hit leads nothing


def test_async_lookup_lead_then_aland(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False, lease_wait=5.0)
    req = cache.request("an async question", model="m")

    async def main() -> None:
        assert await cache.alookup(req, lead=True) is None
        assert await cache.alead(req) is True  # the same task leads still: no self-wait
        await cache.astore(req, "stored")
        assert await cache.aland(req) is True
        assert await cache.aland(req) is False
        hit = await cache.alookup(req, lead=True)
        assert hit is not None and (hit.payload, hit.coalesced) == ("stored", False)

    asyncio.run(main())
    assert len(cache.driver.flights) == 0


def test_a_lead_never_landed_expires(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False, lease_ms=50, lease_wait=5.0)
    req = cache.request("an abandoned question", model="m")
    assert cache.lookup(req, lead=True) is None  # never landed (the caller died)
    other: list[bool] = []
    thread = threading.Thread(target=lambda: other.append(cache.lead(req)))
    thread.start()
    thread.join(DEADLINE)
    assert other == [True]  # led in its place once the lead expired, within lease_wait


def test_get_or_compute_counts_one_miss_and_coalesced_hits(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False)
    req = cache.request("computed once", model="m")
    joins = Joins(cache)
    model = Model()

    def compute() -> str:
        joins.wait_for(CALLERS)
        return model()

    out: list[str] = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get_or_compute(req, compute).payload))
        for _ in range(CALLERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert out == ["the answer"] * CALLERS and model.calls == 1
    stats = cache.stats()
    assert (stats["misses"], stats["coalesced_hits"]) == (1, CALLERS - 1)
