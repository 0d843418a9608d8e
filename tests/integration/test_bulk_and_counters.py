"""Bulk warm, hit counters beside (never inside) the indexed entry, and the Redis read path."""

from __future__ import annotations

import pytest
import redis
from tiered_cache import CacheRequest, TieredCache

from ..conftest import CacheFactory
from ..redis_server import free_port
from ..unit.fake_embedder import MapEmbedder
from .conftest import Driver


def ask(cache: TieredCache, question: str) -> CacheRequest:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    return cache.request(messages, model="m", params={"temperature": 0})


def test_warm_serves_exact_and_semantic_hits(make_cache: CacheFactory) -> None:
    emb = MapEmbedder()
    emb.pair("question 7", "a paraphrase of question 7", 0.97)
    cache = make_cache(embedder=emb, verifier=False, ttl=60)
    items = [(ask(cache, f"question {i}"), f"answer {i}") for i in range(70)]
    assert cache.warm(items, batch_size=32) == 70
    for i in (0, 31, 32, 69):
        hit = cache.lookup(ask(cache, f"question {i}"))
        assert hit is not None and (hit.payload, hit.tier) == (f"answer {i}", "exact")
    hit = cache.lookup(ask(cache, "a paraphrase of question 7"))
    assert hit is not None and (hit.payload, hit.tier) == ("answer 7", "semantic")
    assert cache.stats()["stores"] == 70


def test_warm_keeps_the_embedded_lru_and_its_vectors_in_step() -> None:
    cache = TieredCache(embedder=MapEmbedder(), max_entries=10)
    assert cache.warm([(ask(cache, f"q{i}"), f"a{i}") for i in range(30)]) == 30
    assert len(cache.backends.entries) == 10  # type: ignore[arg-type]
    assert len(cache.index) == 10  # type: ignore[arg-type]  # evicted entries left no vector


def test_warm_on_an_unreachable_redis_stores_nothing_and_does_not_raise() -> None:
    cache = TieredCache.from_url(
        f"redis://127.0.0.1:{free_port()}/0", embedder=MapEmbedder(), breaker_failures=100
    )
    assert cache.warm([(ask(cache, f"q{i}"), "a") for i in range(5)]) == 0
    assert cache.stats()["errors"] >= 1
    assert cache.stats()["stores"] == 0
    assert cache.store(ask(cache, "q0"), "a") is False
    assert cache.stats()["stores"] == 0


@pytest.mark.redis
def test_a_store_writes_entry_and_vector_in_one_command(
    redis_url: str, namespace: str, io: Driver
) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, embedder=MapEmbedder())
    client = redis.Redis.from_url(redis_url)
    try:
        cache.store(ask(cache, "warm-up"), "x")  # index and scripts exist from here on
        before = client.info("commandstats")
        assert io.store(cache, ask(cache, "What is 2+2?"), "4") is True
        after = client.info("commandstats")

        def calls(name: str) -> int:
            return int(after.get(name, {}).get("calls", 0)) - int(
                before.get(name, {}).get("calls", 0)
            )

        # Written once, so RediSearch indexes the entry once (it re-indexes on every write).
        assert (calls("cmdstat_hset"), calls("cmdstat_evalsha")) == (1, 0)
        hit = io.lookup(cache, ask(cache, "What is 2+2?"))
        assert hit is not None and hit.payload == "4"
        assert cache.stats()["stores"] == 2
    finally:
        cache.clear()
        cache.close()
        client.close()


@pytest.mark.redis
@pytest.mark.parametrize("dtype, width", [("float32", 4), ("float16", 2)])
def test_warm_writes_entry_and_vector_in_one_hash(
    redis_url: str, namespace: str, dtype: str, width: int
) -> None:
    emb = MapEmbedder()
    emb.pair("question 3", "question three, reworded", 0.97)
    cache = TieredCache.from_url(
        redis_url, namespace=namespace, embedder=emb, vector_dtype=dtype, verifier=False, ttl=60
    )
    client = redis.Redis.from_url(redis_url)
    try:
        items = [(ask(cache, f"question {i}"), f"answer {i}") for i in range(40)]
        assert cache.warm(items) == 40
        key = cache.redis.keys.entry(items[3][0].exact_key)
        fields = client.hgetall(key)
        assert set(fields) == {b"d", b"vec", b"part", b"q"}
        assert fields[b"q"] == b"question 3" and b"question 3" not in fields[b"d"]  # stored once
        assert len(fields[b"vec"]) == width * emb.dimension
        assert 0 < client.pttl(key) <= 60_000
        hit = cache.lookup(ask(cache, "question three, reworded"))
        assert hit is not None and (hit.payload, hit.tier) == ("answer 3", "semantic")
    finally:
        cache.clear()
        cache.close()
        client.close()


@pytest.mark.redis
def test_hits_count_beside_the_indexed_hash_never_in_it(
    redis_url: str, namespace: str, io: Driver
) -> None:
    # The Redis read path itself (the near cache adds its hits once a second: test_near_cache).
    cache = TieredCache.from_url(
        redis_url, namespace=namespace, embedder=MapEmbedder(), ttl=60, near_cache_size=0
    )
    client = redis.Redis.from_url(redis_url)
    try:
        req = ask(cache, "What is 2+2?")
        io.store(cache, req, "4")
        entry = cache.redis.keys.entry(req.exact_key)
        counter = cache.redis.keys.hits(req.exact_key)
        fields = client.hgetall(entry)
        writes = client.info("commandstats")
        assert [io.lookup(cache, req).entry.hit_count for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]
        after = client.info("commandstats")
        for command in ("cmdstat_hset", "cmdstat_hincrby", "cmdstat_hdel"):  # RediSearch would
            assert after.get(command) == writes.get(command)  # re-index the vector on any write
        assert client.hgetall(entry) == fields
        assert int(client.get(counter)) == 3
        assert 0 < client.pttl(counter) <= client.pttl(entry) + 50
        io.store(cache, req, "four")  # a new entry starts with no hits
        assert io.lookup(cache, req).entry.hit_count == 1  # type: ignore[union-attr]
        cache.backends.entries.delete(req.exact_key)
        assert client.exists(entry, counter) == 0
    finally:
        cache.clear()
        cache.close()
        client.close()


@pytest.mark.redis
def test_exact_reads_survive_a_script_flush(redis_url: str, namespace: str, io: Driver) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    client = redis.Redis.from_url(redis_url)
    try:
        req = cache.request("Say hi", model="m")
        io.store(cache, req, "hi")
        client.script_flush()
        hit = io.lookup(cache, req)
        assert hit is not None and hit.payload == "hi"
    finally:
        cache.clear()
        cache.close()
        client.close()


@pytest.mark.redis
def test_clear_removes_entries_and_counters_over_many_batches(
    redis_url: str, namespace: str, io: Driver
) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, embedder=MapEmbedder())
    client = redis.Redis.from_url(redis_url)
    try:
        items = [(ask(cache, f"q{i}"), "a") for i in range(150)]
        assert cache.warm(items) == 150
        for req, _ in items[:80]:
            assert cache.lookup(req) is not None
        io.clear(cache)
        base = cache.redis.keys.base
        assert list(client.scan_iter(match=f"{base}e:*")) == []
        assert list(client.scan_iter(match=f"{base}h:*")) == []
        assert cache.lookup(items[0][0]) is None
    finally:
        cache.close()
        client.close()
