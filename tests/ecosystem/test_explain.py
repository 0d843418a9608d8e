"""`TieredCache.explain`: the lookup plan's verdict, with its evidence, and no side effects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tiered_cache import CacheConfig, TieredCache

from .conftest import WordEmbedder

Make = Callable[..., TieredCache]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest, namespace: str) -> Iterator[Make]:
    """Caches with a small deterministic embedder, embedded or on Redis."""
    made: list[TieredCache] = []

    def build(**settings: Any) -> TieredCache:
        settings.setdefault("namespace", namespace)
        if request.param == "redis":
            settings["redis_url"] = request.getfixturevalue("redis_url")
        cache = TieredCache(CacheConfig(**settings), embedder=WordEmbedder())
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.clear()
        cache.close()


def settings(**extra: Any) -> dict[str, Any]:
    return {"verifier": False, "adaptive_threshold": False, "threshold": 0.8, **extra}


def test_exact_semantic_and_miss_verdicts_match_lookup(make: Make) -> None:
    cache = make(**settings())
    stored = cache.request("how do I reset my password", model="m")
    other = cache.request("where are your data centers", model="m")
    cache.store(stored, "Use the link.")
    cache.store(other, "Frankfurt.")

    exact = cache.explain(stored)
    assert exact["served"]["tier"] == "exact" and exact["exact_entry"] is True
    assert exact["reason"].startswith("exact")

    paraphrase = cache.request("how do I reset my password now", model="m")
    report = cache.explain(paraphrase)
    assert report["exact_entry"] is False
    assert report["served"]["tier"] == "semantic"
    assert report["served"]["payload_preview"] == "Use the link."
    assert report["candidates"][0]["query"] == "how do I reset my password"
    assert report["candidates"][0]["served"] and report["candidates"][0]["above_threshold"]
    assert [c["query"] for c in report["candidates"]][1:] == ["where are your data centers"]
    assert report["partition_key"] == paraphrase.partition_key
    hit = cache.lookup(paraphrase)
    assert hit is not None and hit.similarity == pytest.approx(report["served"]["similarity"], 1e-3)

    unrelated = cache.explain(cache.request("is bandwidth limited", model="m"))
    assert unrelated["served"] is None and "below threshold" in unrelated["reason"]
    other_model = cache.explain(cache.request("how do I reset my password now", model="n"))
    assert other_model["candidates"] == [] and "nothing stored" in other_model["reason"]


def test_explain_is_read_only(make: Make) -> None:
    cache = make(**settings())
    req = cache.request("how do I reset my password", model="m")
    cache.store(req, "Use the link.")
    before = cache.stats()
    for _ in range(3):
        cache.explain(req)
        cache.explain(cache.request("how do I reset my password now", model="m"))
    after = cache.stats()
    assert after["lookups"] == before["lookups"] == 0
    assert cache.lookup(req).entry.hit_count == 1  # type: ignore[union-attr]  # no earlier hits


def test_exact_only_requests_are_explained(make: Make) -> None:
    cache = make(**settings())
    hot = cache.request("how do I reset my password", model="m", params={"temperature": 0.9})
    report = cache.explain(hot)
    assert report["semantic_allowed"] is False and "exact-only" in report["reason"]


def test_verifier_rejection_is_reported(make: Make) -> None:
    cache = make(**settings(verifier=True, threshold=0.5))
    cache.store(cache.request("How much does the Pro plan cost per month?", model="m"), "$20.")
    report = cache.explain(cache.request("How much does the Pro plan cost per year?", model="m"))
    assert report["served"] is None
    assert report["candidates"][0]["above_threshold"] is True
    assert "verifier_score" in report["candidates"][0]
    assert "verifier" in report["reason"]
    assert cache.stats()["verifier_rejections"] == 0  # read-only: nothing counted


def test_a_zero_cutoff_is_reported_as_zero(make: Make) -> None:
    cache = make(**settings(verifier=True, verifier_cutoff=0.0))
    report = cache.explain(cache.request("anything", model="m"))
    assert report["verifier_cutoff"] == 0.0 == cache.stats()["config"]["verifier_cutoff"]
