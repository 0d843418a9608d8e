"""Counters shared through Redis: what one process did, another process can report."""

from __future__ import annotations

import time

import pytest
import redis
from tiered_cache import TieredCache
from tiered_cache.backends.redis.shared_stats import RedisStatsSink, read_shared_stats, stats_key

pytestmark = pytest.mark.redis


def test_counters_of_closed_caches_add_up(redis_url: str, namespace: str) -> None:
    for _ in range(2):  # two "processes", one after the other
        cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
        req = cache.request("What is the capital of France?", model="gpt-4o-mini")
        if cache.lookup(req) is None:
            cache.store(req, "Paris.", usage={"input_tokens": 1_000, "output_tokens": 100})
        assert cache.lookup(req).payload == "Paris."  # type: ignore[union-attr]
        cache.close()  # flushes this process's counters
    client = redis.Redis.from_url(redis_url)
    shared = read_shared_stats(client, f"tc:{{{namespace}}}:v1:")
    assert shared["exact_hits"] == 3 and shared["misses"] == 1 and shared["lookups"] == 4
    assert shared["stores"] == 1
    assert shared["tokens_saved"] == 3 * 1_100
    assert shared["usd_saved"] == pytest.approx(3 * (1_000 * 0.15 + 100 * 0.60) / 1e6)
    assert shared["entries"] == 1 and shared["entry_hits"] == 3  # from the entries' hit counts
    assert shared["latency"]["exact"]["count"] == 3
    TieredCache.from_url(redis_url, namespace=namespace, semantic=False).clear()
    client.delete(stats_key(f"tc:{{{namespace}}}:v1:"))
    client.close()


def test_flushes_in_the_background_at_most_once_per_interval(
    redis_url: str, namespace: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"tc:{{{namespace}}}:v1:stats"
    sink = RedisStatsSink(client, key, interval=1.0)
    sink.incr("stores", 1)
    assert client.hgetall(key) == {}  # not yet: the first interval has not passed
    time.sleep(1.05)
    sink.incr("stores", 1)  # due: flushed from a thread
    deadline = time.monotonic() + 5
    while client.hget(key, "stores") != b"2" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.hget(key, "stores") == b"2"
    sink.observe_lookup("semantic", 0.01, 0.93)
    sink.close()
    assert client.hget(key, "semantic_hits") == b"1"
    client.delete(key)
    client.close()


def test_a_dead_redis_loses_nothing_and_raises_nothing() -> None:
    from ..redis_server import free_port

    cache = TieredCache.from_url(f"redis://127.0.0.1:{free_port()}", semantic=False)
    sink = next(s for s in cache._stats._sinks if isinstance(s, RedisStatsSink))
    assert cache.lookup(cache.request("q", model="m")) is None
    assert sink.flush() is False  # kept for the next flush
    assert sink._ints["errors"] == 1 and sink._ints["misses"] == 1
    started = time.monotonic()
    cache.close()  # no second attempt on a Redis that just failed
    assert time.monotonic() - started < 0.5


def test_shared_stats_can_be_turned_off(redis_url: str, namespace: str) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False, shared_stats=False)
    cache.lookup(cache.request("q", model="m"))
    cache.close()
    client = redis.Redis.from_url(redis_url)
    assert client.exists(f"tc:{{{namespace}}}:v1:stats") == 0
    client.close()


def test_coalesced_hits_are_shared_and_count_in_the_hit_rate(
    redis_url: str, namespace: str
) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    cache._stats.observe_lookup("miss", 0.001)
    cache._stats.observe_lookup("coalesced", 0.2)
    cache._stats.observe_lookup("coalesced", 0.2)
    cache.close()
    client = redis.Redis.from_url(redis_url)
    base = f"tc:{{{namespace}}}:v1:"
    shared = read_shared_stats(client, base, scan=False)
    assert (shared["coalesced_hits"], shared["misses"], shared["lookups"]) == (2, 1, 3)
    assert shared["hit_rate"] == pytest.approx(2 / 3)
    assert shared["latency"]["coalesced"]["count"] == 2
    client.delete(stats_key(base))
    client.close()
