"""Targeted invalidation (tags, model, partition, age) and sliding TTLs, on the embedded backend,
one Redis and a cluster, sync and async: exactly the selected entries go, their vectors with
them, and nothing else."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tiered_cache import CacheEntry, CacheRequest, InvalidRequestError, TieredCache
from tiered_cache.invalidation import Selection, model_digest, parse_age

from ..conftest import CacheFactory

SYSTEM_V1 = {"role": "system", "content": "You are a support agent. Policy v1."}
SYSTEM_V2 = {"role": "system", "content": "You are a support agent. Policy v2."}


def ask(
    cache: TieredCache, question: str, model: str = "gpt-4o", system: Any = SYSTEM_V1
) -> CacheRequest:
    return cache.request([system, {"role": "user", "content": question}], model=model)


def fill(cache: TieredCache) -> dict[str, CacheRequest]:
    """Six entries: tags, two models, two system prompt versions."""
    requests = {
        "refund": ask(cache, "How do I get a refund?"),
        "shipping": ask(cache, "How long does shipping take?"),
        "password": ask(cache, "How do I reset my password?"),
        "mini": ask(cache, "How do I get a refund?", model="gpt-4o-mini"),
        "v2": ask(cache, "How do I get a refund?", system=SYSTEM_V2),
        "hours": ask(cache, "What are your opening hours?"),
    }
    tags = {
        "refund": ["doc-refunds", "policy-v1"],
        "shipping": ["doc-shipping"],
        "v2": ["policy-v2"],
    }
    for name, request in requests.items():
        assert cache.store(request, f"answer: {name}", tags=tags.get(name))
    return requests


def alive(cache: TieredCache, requests: dict[str, CacheRequest]) -> set[str]:
    return {name for name, r in requests.items() if cache.peek(r.exact_key) is not None}


@pytest.fixture(params=["sync", "async"])
def invalidate(request: pytest.FixtureRequest) -> Any:
    def run(cache: TieredCache, **kwargs: Any) -> int:
        if request.param == "sync":
            return cache.invalidate(**kwargs)
        return asyncio.run(cache.ainvalidate(**kwargs))

    return run


def test_by_tag_takes_exactly_the_tagged_entries(make_cache: CacheFactory, invalidate: Any) -> None:
    cache = make_cache()
    requests = fill(cache)
    assert invalidate(cache, tags="doc-refunds", dry_run=True) == 1
    assert alive(cache, requests) == set(requests)  # a dry run counts, deletes nothing
    assert invalidate(cache, tags=["doc-refunds", "doc-shipping"]) == 2
    assert alive(cache, requests) == set(requests) - {"refund", "shipping"}
    assert cache.lookup(requests["refund"]) is None
    hit = cache.lookup(requests["password"])
    assert hit is not None and hit.payload == "answer: password"


def test_by_model_and_by_partition(make_cache: CacheFactory, invalidate: Any) -> None:
    cache = make_cache()
    requests = fill(cache)
    assert invalidate(cache, model="gpt-4o-mini") == 1
    assert alive(cache, requests) == set(requests) - {"mini"}
    # A system prompt version: everything stored under its partition (model, prompt, params).
    assert invalidate(cache, partition=requests["v2"]) == 1
    assert alive(cache, requests) == set(requests) - {"mini", "v2"}
    assert invalidate(cache, partition=requests["refund"].partition_key, tags="policy-v1") == 1
    assert alive(cache, requests) == {"shipping", "password", "hours"}


def test_by_age(make_cache: CacheFactory, invalidate: Any) -> None:
    cache = make_cache()
    requests = fill(cache)
    old = ask(cache, "Where is your head office?")
    entry = CacheEntry("answer: old", old.query_text, created_at=time.time() - 8 * 86400)
    cache.backends.entries.set(old.exact_key, entry.to_json(), None)  # written 8 days ago
    assert invalidate(cache, older_than="7d") == 1
    assert cache.peek(old.exact_key) is None and alive(cache, requests) == set(requests)
    assert invalidate(cache, older_than="7d", model="gpt-4o") == 0


def test_the_vector_goes_with_its_entry(make_cache: CacheFactory) -> None:
    cache = make_cache()
    refund = ask(cache, "How do I get a refund?")
    cache.store(refund, "answer: refund", tags="doc-refunds")
    paraphrase = ask(cache, "How can I get a refund?")
    hit = cache.lookup(paraphrase)
    assert hit is not None and (hit.payload, hit.tier) == ("answer: refund", "semantic")
    assert cache.invalidate(tags="doc-refunds") == 1
    assert cache.lookup(paraphrase) is None
    assert cache.stats()["invalidated"] == 1


def test_a_selection_is_required_and_checked(make_cache: CacheFactory) -> None:
    cache = make_cache()
    with pytest.raises(InvalidRequestError, match="say what to invalidate"):
        cache.invalidate()
    with pytest.raises(InvalidRequestError, match="age"):
        cache.invalidate(older_than="a week")
    with pytest.raises(InvalidRequestError, match="tag"):
        cache.store(ask(cache, "q"), "a", tags=[""])


def test_ages_parse() -> None:
    assert [parse_age(a) for a in ("90", "90s", "15m", "12h", "7d", "2w", 30)] == [
        90,
        90,
        900,
        43200,
        604800,
        1209600,
        30,
    ]
    entry = CacheEntry("x", created_at=1000.0, tags=("a",), model=model_digest("m"), partition="p")
    assert Selection.of(older_than=100).matches(entry, now=1100.0)
    assert not Selection.of(older_than=100).matches(entry, now=1099.0)
    assert not Selection.of(tags="a", model="other").matches(entry, now=1100.0)
    assert Selection.of(tags=["b", "a"], model="m", partition="p").matches(entry, now=0.0)


# -- TTL policy --------------------------------------------------------------------------------
def remaining(cache: TieredCache, request: CacheRequest) -> float:
    """Seconds the entry has left, read from the backend itself."""
    if cache.redis is not None:
        return int(cache.redis.client.pttl(cache.redis.keys.entry(request.exact_key))) / 1000
    expires = cache.backends.entries._data[request.exact_key][1]
    return float(expires - time.monotonic())


def shorten(cache: TieredCache, request: CacheRequest, seconds: float) -> None:
    """Make the entry look older: only `seconds` left."""
    if cache.redis is not None:
        cache.redis.client.pexpire(cache.redis.keys.entry(request.exact_key), int(seconds * 1000))
        return
    data = cache.backends.entries._data
    value, _, hits = data[request.exact_key]
    data[request.exact_key] = (value, time.monotonic() + seconds, hits)


@pytest.mark.parametrize("policy", ["fixed", "sliding"])
def test_ttl_policy(make_cache: CacheFactory, policy: str) -> None:
    cache = make_cache(ttl=600, ttl_policy=policy, near_cache_size=0)
    request = ask(cache, "How do I get a refund?")
    cache.store(request, "answer: refund")
    shorten(cache, request, 30)
    hit = cache.lookup(request)
    assert hit is not None and hit.payload == "answer: refund"
    if policy == "sliding":
        assert 590 < remaining(cache, request) <= 600  # the hit restarted it
    else:
        assert 0 < remaining(cache, request) <= 30


def test_sliding_per_entry_and_on_semantic_hits(make_cache: CacheFactory) -> None:
    cache = make_cache(ttl=600, near_cache_size=0)  # fixed by default
    fixed, sliding = (
        ask(cache, "What are your opening hours?"),
        ask(cache, "How do I get a refund?"),
    )
    cache.store(fixed, "answer: hours")
    cache.store(sliding, "answer: refund", sliding=True)
    for request in (fixed, sliding):
        shorten(cache, request, 30)
    hit = cache.lookup(ask(cache, "How can I get a refund?"))
    assert hit is not None and (hit.payload, hit.tier) == ("answer: refund", "semantic")
    assert cache.lookup(fixed) is not None
    assert remaining(cache, sliding) > 590 and remaining(cache, fixed) <= 30
