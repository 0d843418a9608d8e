"""Audits under max_wrong_rate, through get_or_compute: the served answer comes first, the audit
after; failing models and comparators are counted, never raised; one audit per entry in flight;
the audit rate is respected; free audits of misses prove a level, then semantic hits are served."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from typing import Any

import pytest
from tiered_cache import CacheConfig, TieredCache
from tiered_cache.rules import bound as qb

from ..conftest import wait_for
from .fake_embedder import MapEmbedder

STORED = "How do I bake sourdough bread?"
ASKED = "How can I bake sourdough bread?"
SETTINGS: dict[str, Any] = {
    "threshold": 0.90,
    "verifier": False,  # the ladder moves the threshold alone: level L serves >= 0.90 + 0.01 L
    "threshold_refresh_seconds": 0.0,
    "max_wrong_rate": 0.05,
    "audit_rate": 1.0,
}


def cache_with(emb: MapEmbedder, **settings: Any) -> TieredCache:
    emb.pair(STORED, ASKED, 0.96)
    cache = TieredCache(embedder=emb, **{**SETTINGS, **settings})
    cache.store(cache.request(STORED, model="m"), "bread")
    return cache


def proved(cache: TieredCache, audits: int = 100) -> None:
    """A global state whose level 0 is proved by `audits` right answers at similarity 0.96
    (100: thin evidence, so every candidate is audited at audit_rate 1)."""
    state = qb.BoundState(level=0, audits=[(6, 0)] * audits, audited=audits)
    cache.aux.set(qb.state_key(qb.GLOBAL), state.to_json())


def idle(cache: TieredCache) -> bool:
    assert cache.auditor is not None
    return not cache.auditor._in_flight


def test_nothing_is_audited_or_changed_without_max_wrong_rate() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb, max_wrong_rate=None)
    served = cache.get_or_compute(cache.request(ASKED, model="m"), lambda: "never called")
    assert served.payload == "bread" and served.hit.tier == "semantic"
    assert cache.auditor is None and "bound" not in cache.stats()


def test_no_semantic_hit_before_a_level_is_proved() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb)
    served = cache.get_or_compute(cache.request(ASKED, model="m"), lambda: "fresh")
    assert served.payload == "fresh" and served.hit is None
    assert cache.stats()["bound"]["level"] == "off"


def test_the_hit_is_served_first_and_its_audit_after_finds_the_wrong_answer() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb)
    proved(cache)
    gate, events = threading.Event(), []

    def model() -> str:
        events.append("model called")
        assert gate.wait(30)
        events.append("model returned")
        return "cake"

    served = cache.get_or_compute(cache.request(ASKED, model="m"), model)
    events.append("served")
    assert served.payload == "bread" and served.hit.tier == "semantic"
    gate.set()
    wait_for(lambda: cache.stats()["audits"] == 1 and idle(cache), "the audit")
    assert events.index("served") < events.index("model returned")
    stats = cache.stats()
    assert (stats["audits_wrong"], stats["audits_paid"], stats["audit_errors"]) == (1, 1, 0)
    assert stats["bound"]["wrong_found"] == 1 and stats["bound"]["entries_tightened"] == 1
    partition = cache.request(ASKED, model="m").partition_key
    assert cache.plans.bound is not None and cache.plans.bound.refused(partition, STORED, 0.96)
    hit = cache.lookup(cache.request(ASKED, model="m"))  # the fresh answer refreshed it
    assert hit is not None and (hit.tier, hit.payload) == ("exact", "cake")


def test_a_failing_model_or_comparator_never_breaks_a_call() -> None:
    emb = MapEmbedder()

    def broken_comparator(served: str, fresh: str) -> bool:
        raise RuntimeError("judge down")

    for answers_agree, model_fails in ((None, True), (broken_comparator, False)):
        cache = cache_with(emb, answers_agree=answers_agree)
        proved(cache)

        def model(fails: bool = model_fails) -> str:
            if fails:
                raise ConnectionError("model down")
            return "bread"

        served = cache.get_or_compute(cache.request(ASKED, model="m"), model)
        assert served.payload == "bread" and served.hit.tier == "semantic"
        wait_for(lambda c=cache: c.stats()["audit_errors"] == 1 and idle(c), "the failed audit")
        assert cache.stats()["audits"] == 0


def test_async_callers_get_the_hit_before_the_audit_and_a_failing_model_is_counted() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb)
    proved(cache)
    events: list[str] = []

    async def model() -> str:
        events.append("model called")
        raise ConnectionError("model down")

    async def main() -> Any:
        served = await cache.aget_or_compute(cache.request(ASKED, model="m"), model)
        events.append("served")
        while not idle(cache):
            await asyncio.sleep(0)
        return served

    served = asyncio.run(main())
    assert served.payload == "bread" and served.hit.tier == "semantic"
    assert events == ["served", "model called"] and cache.stats()["audit_errors"] == 1


def test_one_audit_in_flight_per_entry() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb)
    proved(cache)
    gate = threading.Event()

    def model() -> str:
        assert gate.wait(30)
        return "bread"

    request = cache.request(ASKED, model="m")
    first = cache.get_or_compute(request, model)
    second = cache.get_or_compute(request, model)
    assert first.payload == second.payload == "bread" and second.hit.tier == "semantic"
    assert cache.stats()["audits_skipped"] == 1
    gate.set()
    wait_for(lambda: idle(cache), "the audit")
    assert cache.stats()["audits_paid"] == 1


def test_audits_respect_the_audit_rate() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb, audit_rate=0.2)
    proved(cache, audits=100)  # thin evidence: the full cap applies
    assert cache.auditor is not None
    cache.auditor._rng = random.Random(7)
    for i in range(200):
        asked = f"How might one bake sourdough bread, take {i}?"
        emb.pair(STORED, asked, 0.96)
        served = cache.get_or_compute(cache.request(asked, model="m"), lambda: "bread")
        assert served.payload == "bread" and served.hit.tier == "semantic"
        wait_for(lambda: idle(cache), "the audit")
    stats = cache.stats()
    assert 20 <= stats["audits_paid"] <= 60  # 40 expected at 0.2 (seeded)
    assert stats["audits_skipped"] == 0 and stats["audits_wrong"] == 0


def test_free_audits_of_misses_prove_a_level_then_hits_are_served() -> None:
    emb = MapEmbedder()
    cache = TieredCache(embedder=emb, **SETTINGS)
    for i in range(100):
        stored, asked = f"Where is museum number {i}?", f"Where can I find museum number {i}?"
        emb.pair(stored, asked, 0.96)
        cache.store(cache.request(stored, model="m"), f"street {i}")
        cache.get_or_compute(cache.request(asked, model="m"), lambda i=i: f"street {i}")
        wait_for(lambda: idle(cache), "the audit")
    stats = cache.stats()
    assert stats["audits_free"] >= 85 and stats["audits_paid"] >= 1 and stats["audits_wrong"] == 0
    assert stats["bound"]["level"] != "off"
    emb.pair("Where is the zoo?", "Where can I find the zoo?", 0.96)
    cache.store(cache.request("Where is the zoo?", model="m"), "north gate")
    served = cache.get_or_compute(cache.request("Where can I find the zoo?", model="m"), str)
    assert served.payload == "north gate" and served.hit.tier == "semantic"


def test_the_default_comparator_checks_numbers_yes_no_and_code_exactly() -> None:
    from tiered_cache.audit import exact_checks

    assert exact_checks("It opens at 9.", "It opens at 10.") is False
    assert exact_checks("Yes, it is open.", "No, it is closed on Sundays.") is False
    assert exact_checks("```x = 1```", "```x = 2```") is False
    assert exact_checks("It  opens at 9.", "It opens at 9.") is True
    assert exact_checks("It opens at nine.", "Opening time is nine.") is None  # the model decides


@pytest.mark.redis
def test_the_bound_is_shared_by_two_caches_on_one_redis(redis_url: str) -> None:
    emb = MapEmbedder()
    emb.pair(STORED, ASKED, 0.96)
    namespace = f"t-{uuid.uuid4().hex[:12]}"
    cfg = CacheConfig(redis_url=redis_url, namespace=namespace, vector_dtype="float32", **SETTINGS)
    first, second = TieredCache(cfg, embedder=emb), TieredCache(cfg, embedder=emb)
    try:
        first.store(first.request(STORED, model="m"), "bread")
        proved(first)  # written by the first, read by the second's lookups
        served = second.get_or_compute(second.request(ASKED, model="m"), lambda: "cake")
        assert served.payload == "bread" and served.hit.tier == "semantic"
        wait_for(lambda: second.stats()["audits"] == 1 and idle(second), "the audit")
        raw = first.aux.get(qb.state_key(qb.GLOBAL))  # the second's wrong answer, in Redis
        assert raw is not None and qb.BoundState.from_raw(raw).wrong == 1
        assert first.stats()["bound"]["wrong_found"] == 1
    finally:
        first.clear(aux=True)
        first.close()
        second.close()


def test_explain_shows_the_setting_in_force_and_where_audits_happen() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb)
    try:
        request = cache.request(ASKED, model="m")
        before = cache.explain(request)["bound"]
        assert before["level"] == "off" and before["threshold"] is None  # nothing proved yet
        assert "never audited" in before["audited_where"]
        proved(cache)
        cache.lookup(request)  # reads the shared state
        after = cache.explain(request)["bound"]
        assert (after["level"], after["threshold"], after["max_wrong_rate"]) == (0, 0.90, 0.05)
    finally:
        cache.close()
    plain = TieredCache(embedder=emb, verifier=False)
    try:
        assert "bound" not in plain.explain(plain.request(ASKED, model="m"))
    finally:
        plain.close()
