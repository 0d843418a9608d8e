"""Adaptive threshold: feedback raises it, lowers it cautiously, within bounds, persisted in the
backend and shared by caches on the same store (embedded: a shared KV; Redis: one server)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from tiered_cache import CacheConfig, CacheHit, TieredCache
from tiered_cache.rules.threshold import ThresholdState, observe, state_key

from .fake_embedder import MapEmbedder

STORED = "How do I bake sourdough bread?"
ASKED = "How can I bake sourdough bread?"
SETTINGS: dict[str, Any] = {
    "threshold": 0.90,
    "verifier": False,  # these tests are about the threshold alone
    "feedback_min_samples": 10,
    "feedback_window": 50,
    "threshold_refresh_seconds": 0.0,
}


def cache_with(emb: MapEmbedder, cos: float = 0.96, **settings: Any) -> TieredCache:
    emb.pair(STORED, ASKED, cos)
    cache = TieredCache(embedder=emb, **{**SETTINGS, **settings})
    cache.store(cache.request(STORED, model="m"), "bread")
    return cache


def semantic_hit(cache: TieredCache, model: str = "m") -> CacheHit:
    hit = cache.lookup(cache.request(ASKED, model=model))
    assert hit is not None and hit.tier == "semantic" and hit.payload == "bread"
    return hit


def feedback(cache: TieredCache, hit: CacheHit, correct: bool, mode: str = "sync") -> Any:
    if mode == "sync":
        return cache.record_feedback(hit, correct)
    return asyncio.run(cache.arecord_feedback(hit, correct))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_wrong_hits_raise_the_threshold_until_they_stop(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = cache_with(MapEmbedder(), cos=0.96)
    hit = semantic_hit(cache)
    partition = hit.partition
    caplog.set_level(logging.INFO, logger="tiered_cache")
    results = [feedback(cache, hit, False, mode) for _ in range(9)]
    assert results == [0.90] * 9  # fewer outcomes than feedback_min_samples: no move yet
    feedback(cache, hit, False, mode)
    assert cache.current_threshold(partition) == pytest.approx(0.91)
    for _ in range(10):
        feedback(cache, hit, False, mode)
    # It rose while wrong hits at 0.96 were still served, and stopped just above them.
    assert cache.current_threshold(partition) == pytest.approx(0.97)
    assert cache.current_threshold() == pytest.approx(0.97)  # the global one too
    assert cache.lookup(cache.request(ASKED, model="m")) is None
    stats = cache.stats()
    assert stats["feedback"] == 20 and stats["feedback_incorrect"] == 20
    assert stats["threshold_changes"] == 2 * 7  # 0.90 -> 0.97 in partition and global
    assert "raised 0.9000 -> 0.9100" in caplog.text


def test_threshold_never_exceeds_its_bound() -> None:
    cache = cache_with(MapEmbedder(), cos=0.99, threshold_max=0.93)
    hit = semantic_hit(cache)
    for _ in range(40):
        cache.record_feedback(hit, False)
    assert cache.current_threshold(hit.partition) == pytest.approx(0.93)


def test_good_hits_lower_it_cautiously_and_within_bounds() -> None:
    cache = cache_with(MapEmbedder(), cos=0.95, threshold_min=0.89)
    hit = semantic_hit(cache)
    thresholds = [cache.record_feedback(hit, True) for _ in range(60)]
    # Only after 2 x feedback_min_samples outcomes, half a step at a time, never below 0.89.
    assert thresholds[18] == pytest.approx(0.90)
    assert thresholds[19] == pytest.approx(0.895)
    assert thresholds[38] == pytest.approx(0.895)
    assert thresholds[39] == pytest.approx(0.89)
    assert thresholds[-1] == pytest.approx(0.89)


def test_precision_at_target_but_not_well_above_it_holds_still() -> None:
    cfg = CacheConfig(**SETTINGS)
    # 96% precision over the window: at the target (0.95), not above target + margin (0.98).
    state = ThresholdState(outcomes=[(0.95, 1)] * 47 + [(0.95, 0)] * 2, seen=49, since_change=49)
    assert observe(state, 0.95, True, cfg, 0.0) == (0.90, 0.90)
    state.outcomes[-1] = (0.95, 0)  # 94%: below the target
    assert observe(state, 0.95, True, cfg, 0.0) == (0.90, pytest.approx(0.91))


def test_exact_hits_and_disabled_adaptation_are_ignored() -> None:
    cache = cache_with(MapEmbedder())
    exact = cache.lookup(cache.request(STORED, model="m"))
    assert exact is not None and exact.tier == "exact"
    assert cache.record_feedback(exact, False) is None
    off = cache_with(MapEmbedder(), adaptive_threshold=False)
    assert off.record_feedback(semantic_hit(off), False) is None
    assert off.current_threshold() == 0.90
    assert cache.stats()["feedback"] == 0 == off.stats()["feedback"]


def test_a_partition_with_few_outcomes_follows_the_global_threshold() -> None:
    emb = MapEmbedder()
    cache = cache_with(emb, cos=0.99)
    good = semantic_hit(cache, "m")
    emb.pair("Why is the sky blue?", "Why is the sky blue in daytime?", 0.96)
    cache.store(cache.request("Why is the sky blue?", model="other"), "sky")
    bad = cache.lookup(cache.request("Why is the sky blue in daytime?", model="other"))
    assert bad is not None and bad.partition != good.partition
    for _ in range(10):
        cache.record_feedback(good, True)  # partition "m": enough outcomes, all good
    for _ in range(10):
        cache.record_feedback(bad, False)  # partition "other": bad ones
    assert cache.current_threshold(good.partition) == pytest.approx(0.90)  # its own
    assert cache.current_threshold(bad.partition) == pytest.approx(0.97)  # its own
    raised = cache.current_threshold()
    assert raised > 0.90  # the global window saw the bad hits too
    fresh = cache.request("Anything else?", model="fresh").partition_key
    assert cache.current_threshold(fresh) == raised  # no outcomes of its own: global


def test_state_is_json_in_the_kv_and_shared_by_caches_on_it() -> None:
    emb = MapEmbedder()
    first = cache_with(emb, cos=0.96)
    hit = semantic_hit(first)
    for _ in range(20):
        first.record_feedback(hit, False)
    raw = first.aux.get(state_key(hit.partition))
    assert raw is not None
    state = ThresholdState.from_raw(raw)
    assert state.seen == 20 and state.changes == 7
    assert state.offset == pytest.approx(0.07)
    second = TieredCache(embedder=emb, backends=first.backends, **SETTINGS)
    assert second.current_threshold(hit.partition) == pytest.approx(0.97)
    assert second.lookup(second.request(ASKED, model="m")) is None


def test_offset_survives_a_new_base_threshold() -> None:
    emb = MapEmbedder()
    first = cache_with(emb, cos=0.96)
    hit = semantic_hit(first)
    for _ in range(11):
        first.record_feedback(hit, False)
    assert first.current_threshold(hit.partition) == pytest.approx(0.92)
    moved = TieredCache(embedder=emb, backends=first.backends, **{**SETTINGS, "threshold": 0.85})
    assert moved.current_threshold(hit.partition) == pytest.approx(0.87)


def test_unreadable_state_is_replaced_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    cache = cache_with(MapEmbedder())
    hit = semantic_hit(cache)
    cache.aux.set(state_key(""), b"not json")
    assert cache.current_threshold() == 0.90
    assert cache.record_feedback(hit, True) == 0.90
    assert "unreadable threshold state" in caplog.text
    assert ThresholdState.from_raw(cache.aux.get(state_key(""))).seen == 1


def test_observe_is_pure_and_bounded() -> None:
    cfg = CacheConfig(**{**SETTINGS, "threshold_max": 0.92})
    state = ThresholdState()
    moves = [observe(state, 0.99, False, cfg, 0.0) for _ in range(30)]
    assert moves[8] == (0.90, 0.90) and moves[9] == (0.90, pytest.approx(0.91))
    assert max(after for _, after in moves) == pytest.approx(0.92)
    assert len(state.outcomes) == 30 and state.seen == 30


@pytest.mark.redis
def test_shared_between_two_caches_on_the_same_redis(redis_url: str) -> None:
    emb = MapEmbedder()
    emb.pair(STORED, ASKED, 0.96)
    namespace = f"t-{uuid.uuid4().hex[:12]}"
    # float32: the test engineers exact similarities (0.96) that float16 would round
    cfg = CacheConfig(redis_url=redis_url, namespace=namespace, vector_dtype="float32", **SETTINGS)
    first, second = TieredCache(cfg, embedder=emb), TieredCache(cfg, embedder=emb)
    try:
        first.store(first.request(STORED, model="m"), "bread")
        hit = semantic_hit(second)
        for _ in range(20):
            first.record_feedback(hit, False)
        assert second.current_threshold(hit.partition) == pytest.approx(0.97)
        assert second.lookup(second.request(ASKED, model="m")) is None
        for _ in range(5):  # feedback from the second process adds to the same window
            second.record_feedback(hit, False)
        raw = first.aux.get(state_key(hit.partition))
        assert raw is not None and ThresholdState.from_raw(raw).seen == 25
    finally:
        first.clear()
        first.close()
        second.close()
