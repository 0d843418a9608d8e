"""The exact tier on both backends, through the sync and the async API."""

from __future__ import annotations

import time

import orjson
import pytest
from tiered_cache import TieredCache

from ..conftest import CacheFactory
from .conftest import Driver


def test_round_trip_returns_exactly_the_payload(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache(semantic=False)
    req = cache.request("Say hello", model="m")
    assert io.lookup(cache, req) is None
    payload = '{"text": "hello ✓", "n": [1, 2]}\n\x00 edge'
    assert io.store(cache, req, payload, usage={"total_tokens": 11}) is True
    hit = io.lookup(cache, req)
    assert hit is not None
    assert (hit.payload, hit.tier, hit.similarity) == (payload, "exact", 1.0)
    assert hit.entry.usage == {"total_tokens": 11}
    assert hit.entry.hit_count == 1
    assert io.lookup(cache, req).entry.hit_count == 2  # type: ignore[union-attr]
    stats = cache.stats()
    assert (stats["exact_hits"], stats["misses"], stats["tokens_saved"]) == (2, 1, 22)


def test_equivalent_prompts_share_the_entry(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache(semantic=False)
    io.store(cache, cache.request("What  is\n2+2?", model="m", params={"temperature": 0}), "4")
    hit = io.lookup(
        cache, cache.request(" What is 2+2? ", model="m", params={"temperature": 0.0, "timeout": 9})
    )
    assert hit is not None and hit.payload == "4"
    assert (
        io.lookup(cache, cache.request("What is 2+2?", model="m", params={"temperature": 1}))
        is None
    )


def test_ttl_expiry(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache(semantic=False, ttl=1.5)  # margin for a slow machine
    req = cache.request("short-lived", model="m")
    io.store(cache, req, "v")
    assert io.lookup(cache, req) is not None
    long_req = cache.request("long-lived", model="m")
    io.store(cache, long_req, "w", ttl=30)
    time.sleep(1.7)
    assert io.lookup(cache, req) is None
    hit = io.lookup(cache, long_req)
    assert hit is not None and hit.payload == "w"


def test_namespaces_are_isolated(make_cache: CacheFactory, io: Driver) -> None:
    a = make_cache(semantic=False, namespace="tenant-a")
    b = make_cache(semantic=False, namespace="tenant-b")
    io.clear(a)
    io.clear(b)
    io.store(a, a.request("secret question", model="m"), "for a only")
    assert io.lookup(b, b.request("secret question", model="m")) is None
    io.store(b, b.request("secret question", model="m"), "for b")
    io.clear(b)
    hit = io.lookup(a, a.request("secret question", model="m"))
    assert hit is not None and hit.payload == "for a only"


def test_clear_empties_the_cache(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache(semantic=False)
    reqs = [cache.request(f"q{i}", model="m") for i in range(30)]
    for r in reqs:
        io.store(cache, r, "x")
    io.clear(cache)
    assert all(io.lookup(cache, r) is None for r in reqs)


def test_memory_lru_eviction_order(io: Driver) -> None:
    cache = TieredCache(semantic=False, max_entries=3)
    reqs = [cache.request(q, model="m") for q in ("a", "b", "c", "d")]
    for r in reqs[:3]:
        io.store(cache, r, r.query_text or "")
    io.lookup(cache, reqs[0])  # a becomes most recent; b is now the oldest
    io.store(cache, reqs[3], "d")
    assert [io.lookup(cache, r) is not None for r in reqs] == [True, False, True, True]
    assert cache.stats()["evictions"] == 1


@pytest.mark.redis
def test_redis_clear_touches_only_its_own_keys(redis_url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    foreign = {
        "redis:unrelated": b"1",
        f"tc:{{{namespace}-other}}:v1:e:x": b"2",
        f"tc:{{{namespace}}}:v2:e:x": b"3",
        f"other:{{{namespace}}}:v1:e:x": b"4",
    }
    for k, v in foreign.items():
        client.set(k, v)
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    for i in range(1200):  # more than one SCAN/UNLINK batch
        cache.backends.entries.set(f"k{i}", b"{}", None)
    cache.store(cache.request("q", model="m"), "v")
    cache.clear()
    assert client.keys(f"tc:{{{namespace}}}:v1:e:*") == []
    assert {k: client.get(k) for k in foreign} == foreign
    client.delete(*foreign)
    cache.close()


@pytest.mark.redis
def test_redis_layout_and_json_only(redis_url: str, namespace: str) -> None:
    import redis

    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False, ttl=100)
    req = cache.request("layout", model="m")
    cache.store(req, "payload", usage={"total_tokens": 3})
    client = redis.Redis.from_url(redis_url)
    key = f"tc:{{{namespace}}}:v1:e:{req.exact_key[:32]}"  # 128 bits of the key name an entry
    stored = client.hgetall(key)
    entry = orjson.loads(stored[b"d"])
    assert entry["payload"] == "payload" and entry["usage"] == {"total_tokens": 3}
    assert 0 < client.pttl(key) <= 100_000
    cache.clear()
    cache.close()


def test_corrupt_entry_is_a_miss_and_is_deleted(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache(semantic=False)
    req = cache.request("q", model="m")
    cache.backends.entries.set(req.exact_key, b"\x80\x04\x95not ours", None)
    assert io.lookup(cache, req) is None
    assert cache.backends.entries.get(req.exact_key) is None
    assert cache.stats()["corrupt_entries"] == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_dead_backend_is_a_miss_not_an_error(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    from ..redis_server import free_port

    io = Driver(mode)
    cache = TieredCache.from_url(f"redis://127.0.0.1:{free_port()}", semantic=False)
    req = cache.request("q", model="m")
    with caplog.at_level("WARNING", logger="tiered_cache"):
        assert io.lookup(cache, req) is None
        assert io.store(cache, req, "v") is False
        assert io.lookup(cache, req) is None
    assert cache.stats()["errors"] == 3
    warnings = [r for r in caplog.records if "backend failed" in r.getMessage()]
    assert len(warnings) == 1  # once per incident


def test_a_plain_redis_serves_exact_hits_and_says_once_why_not_semantic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ..redis_server import RedisStackServer

    server = RedisStackServer(modules=False).start()  # no query engine, as on many services
    try:
        with caplog.at_level("WARNING"):
            cache = TieredCache.from_url(server.url, namespace="plain")
            quiet = TieredCache.from_url(server.url, namespace="plain", semantic=False)
        req = cache.request("What is the capital of France?", model="m")
        assert cache.store(req, "Paris.")
        hit = cache.lookup(req)
        assert hit is not None and (hit.payload, hit.tier) == ("Paris.", "exact")
        para = cache.request("What's the capital city of France?", model="m")
        assert cache.lookup(para) is None
        stats = cache.stats()
        assert (stats["errors"], stats["stores"], stats["config"]["semantic"]) == (0, 1, False)
        warnings = [r.getMessage() for r in caplog.records if "query engine" in r.getMessage()]
        assert len(warnings) == 1 and "semantic=False" in warnings[0]
        cache.clear()
        cache.close()
        quiet.close()
    finally:
        server.stop()


@pytest.mark.parametrize("wrong", ["What is the capital of France?", [{"role": "user"}], None])
async def test_something_else_than_a_request_is_a_one_line_type_error(
    make_cache: CacheFactory, wrong: object
) -> None:
    """A string or a message list is a caller's mistake, raised at once: not an internal error
    served as a miss (which would look like a cache that never hits)."""
    cache = make_cache()
    name = type(wrong).__name__
    calls = {
        "lookup": lambda: cache.lookup(wrong),  # type: ignore[arg-type]
        "store": lambda: cache.store(wrong, "Paris."),  # type: ignore[arg-type]
        "get_or_compute": lambda: cache.get_or_compute(wrong, lambda: "Paris."),  # type: ignore[arg-type]
    }
    for method, call in calls.items():
        with pytest.raises(TypeError, match=rf"^{method}\(\) takes a CacheRequest .* got {name}$"):
            call()
    with pytest.raises(TypeError, match=rf"^alookup\(\) takes a CacheRequest .* got {name}$"):
        await cache.alookup(wrong)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^lookup\(\) takes a CacheRequest .* got {name}$"):
        cache.lookup(wrong, lead=True)  # type: ignore[arg-type]
    assert cache.stats()["internal_errors"] == 0
