"""The near cache on a real Redis Stack: repeats are served in process, and every change made
through another connection (store, delete, clear, expiry, FLUSHALL) is seen; a lost listener
connection sends lookups back to Redis until it is back."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from tiered_cache import CacheRequest, TieredCache
from tiered_cache.backends.redis.entries import RedisEntries
from tiered_cache.backends.redis.near import NearCache

pytestmark = pytest.mark.redis


@pytest.fixture
def pair(redis_url: str, namespace: str) -> Iterator[tuple[TieredCache, TieredCache]]:
    """(a cache with the near cache, another client of the same namespace without one)."""
    near = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    other = TieredCache.from_url(redis_url, namespace=namespace, semantic=False, near_cache_size=0)
    assert store(near)._listener is not None and store(near)._listener.connected.wait(5)
    yield near, other
    other.clear()
    near.close()
    other.close()


def store(cache: TieredCache) -> RedisEntries:
    assert isinstance(cache.backends.entries, RedisEntries)
    return cache.backends.entries


def served(cache: TieredCache) -> int:
    return int(cache.stats()["near_cache"]["served"])


def settled(cache: TieredCache, request: CacheRequest) -> bool:
    """Once the messages of the last writes have arrived, a repeat is served in process."""
    before = served(cache)
    return eventually(lambda: cache.lookup(request) is not None and served(cache) > before)


def eventually(check: Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def payload(cache: TieredCache, request: CacheRequest) -> str | None:
    hit = cache.lookup(request)
    return None if hit is None else hit.payload


def test_repeats_are_served_in_process(pair: tuple[TieredCache, TieredCache]) -> None:
    near, _ = pair
    request = near.request("What is the capital of France?", model="m")
    near.store(request, "Paris.")
    assert settled(near, request)
    redis_reads = []
    client = store(near).conn.client
    real = client.execute_command
    client.execute_command = lambda *a, **k: redis_reads.append(a[0]) or real(*a, **k)  # type: ignore[method-assign]
    before = served(near)
    hits = [near.lookup(request) for _ in range(50)]
    del client.execute_command
    assert all(h is not None and (h.payload, h.tier) == ("Paris.", "exact") for h in hits)
    assert redis_reads == [] and served(near) - before == 50
    # Hits served in process reach the shared counter about once a second.
    hkey = store(near).keys.hits(request.exact_key)
    total = near.stats()["exact_hits"]  # every hit of this entry, in process or not
    assert eventually(lambda: int(client.get(hkey) or 0) == total)


async def test_async_repeats_are_served_in_process(
    pair: tuple[TieredCache, TieredCache],
) -> None:
    near, other = pair
    request = near.request("How tall is Mont Blanc?", model="m")
    await other.astore(request, "4,806 m.")
    assert settled(near, request)
    before = served(near)
    hits = await asyncio.gather(*(near.alookup(request) for _ in range(20)))
    assert [h.payload if h else None for h in hits] == ["4,806 m."] * 20
    assert served(near) - before == 20


def test_changes_through_another_client_are_seen(pair: tuple[TieredCache, TieredCache]) -> None:
    near, other = pair
    request = near.request("Who wrote Hamlet?", model="m")
    other.store(request, "Shakespeare.")
    assert payload(near, request) == payload(near, request) == "Shakespeare."
    other.store(request, "William Shakespeare.")  # rewritten elsewhere
    assert eventually(lambda: payload(near, request) == "William Shakespeare.")
    assert store(other).delete(request.exact_key)  # deleted elsewhere
    assert eventually(lambda: payload(near, request) is None)
    other.store(request, "W. S.")
    assert eventually(lambda: payload(near, request) == "W. S.")
    other.clear()  # cleared elsewhere
    assert eventually(lambda: payload(near, request) is None)
    other.store(request, "again")
    assert eventually(lambda: payload(near, request) == "again")
    store(other).conn.client.flushall()  # the whole server flushed
    assert eventually(lambda: payload(near, request) is None)


def test_own_writes_are_seen_at_once(pair: tuple[TieredCache, TieredCache]) -> None:
    near, _ = pair
    request = near.request("What is 2 + 2?", model="m")
    near.store(request, "4")
    assert payload(near, request) == payload(near, request) == "4"
    near.store(request, "four")
    assert payload(near, request) == "four"  # no wait for Redis's message
    near.clear()
    assert payload(near, request) is None


def test_expiry_is_kept(pair: tuple[TieredCache, TieredCache]) -> None:
    near, other = pair
    request = near.request("What time is it?", model="m")
    short = TieredCache.from_url(
        store(other).conn.url, namespace=other.config.namespace, semantic=False, ttl=1.5
    )
    try:
        short.store(request, "noon")
        assert payload(near, request) == payload(near, request) == "noon"
        time.sleep(1.7)
        assert payload(near, request) is None  # its remaining TTL came with it
    finally:
        short.close()


def test_lost_listener_sends_lookups_to_redis(pair: tuple[TieredCache, TieredCache]) -> None:
    near, other = pair
    request = near.request("Which is the largest ocean?", model="m")
    other.store(request, "The Pacific.")
    assert payload(near, request) == payload(near, request) == "The Pacific."
    listener = store(near)._listener
    assert listener is not None
    admin = redis.Redis.from_url(store(near).conn.url)
    try:
        admin.client_kill_filter(_type="pubsub")  # the listener's connection is cut
        assert eventually(lambda: not listener.connected.is_set(), 2.0)
    finally:
        admin.close()
    # Whatever happens while it is away is seen: the copy it had is gone.
    other.store(request, "The Pacific Ocean.")
    assert payload(near, request) == "The Pacific Ocean."
    assert listener.connected.wait(5)  # back, with back-off
    assert settled(near, request)
    other.store(request, "Pacific.")
    assert eventually(lambda: payload(near, request) == "Pacific.")


def test_off_means_no_listener(redis_url: str, namespace: str) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, near_cache_size=0)
    try:
        assert store(cache).near is None and store(cache)._listener is None
        assert "near_cache" not in cache.stats()
    finally:
        cache.close()


def test_a_read_that_raced_with_an_invalidation_is_not_kept() -> None:
    near = NearCache(max_entries=2)
    near.set_live(True)
    ticket = near.ticket()
    near.invalidate(["k"])  # the key changed while the read was in flight
    near.put("k", b"old", 1, -1, ticket)
    assert near.get("k") is None
    ticket = near.ticket()
    near.invalidate(["other"])  # another key: the read is still good
    near.put("k", b"new", 1, -1, ticket)
    assert near.get("k") == (b"new", 2)
    ticket = near.ticket()
    near.invalidate(None)  # everything
    near.put("k2", b"v", 1, -1, ticket)
    assert near.get("k2") is None
    ticket = near.ticket()
    for i in range(5000):  # more changes than it remembers: nothing read before is trusted
        near.invalidate([f"x{i}"])
    near.put("k3", b"v", 1, -1, ticket)
    assert near.get("k3") is None
    for key in ("a", "b", "c"):  # LRU bound
        near.put(key, key.encode(), 1, -1, near.ticket())
    assert len(near) == 2 and near.get("a") is None and near.get("c") == (b"c", 2)
    near.set_live(False)
    assert near.get("c") is None and near.ticket() is None


def _child_sees_no_copy(near: NearCache, out: Any) -> None:
    out.put((near.live, near.get("k")))


def test_a_forked_child_never_uses_its_parents_copy() -> None:
    near = NearCache(max_entries=10)
    near.set_live(True)
    near.put("k", b"v", 1, -1, near.ticket())
    assert near.get("k") == (b"v", 2)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_sees_no_copy, args=(near, out))
    child.start()
    child.join(20)
    assert out.get(timeout=5) == (False, None)


def _calls(client: Any, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def test_a_first_read_runs_no_script_and_its_hit_is_counted_later(
    pair: tuple[TieredCache, TieredCache],
) -> None:
    near, other = pair
    request = near.request("How deep is the Mariana Trench?", model="m")
    other.store(request, "About 11 km.")
    assert near.wait_ready(10) and eventually(lambda: store(near).near.live)  # type: ignore[union-attr]
    client = store(near).conn.client
    scripts = _calls(client, "evalsha") + _calls(client, "eval")
    reads = _calls(client, "hmget")
    hit = near.lookup(request)
    assert hit is not None and (hit.payload, hit.tier, hit.entry.hit_count) == (
        "About 11 km.",
        "exact",
        1,
    )
    assert _calls(client, "evalsha") + _calls(client, "eval") == scripts
    assert _calls(client, "hmget") == reads + 1
    hkey = store(near).keys.hits(request.exact_key)
    assert eventually(lambda: int(client.get(hkey) or 0) == 1)
