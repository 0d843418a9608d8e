"""Redis Cluster: namespaces spread over shards, every key of one on its shard, and a dead shard
degrades only its own namespaces (a 3-primary Redis Stack cluster on loopback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tiered_cache import TieredCache

from ..conftest import wait_for
from ..redis_server import RedisStackCluster
from ..unit.fake_embedder import MapEmbedder

pytestmark = pytest.mark.redis


def spread(url: str, count: int, **settings: Any) -> list[TieredCache]:
    """`count` caches whose namespaces land on every shard of the cluster at `url`."""
    caches: dict[str, list[TieredCache]] = {}
    for i in range(200):
        cache = TieredCache.from_url(
            url, namespace=f"tenant-{i}-{uuid.uuid4().hex[:6]}", **settings
        )
        owner = cache.redis.node_url()
        if len(caches.get(owner, [])) < count:
            caches.setdefault(owner, []).append(cache)
        else:
            cache.close()
        if len(caches) == 3 and all(len(c) == count for c in caches.values()):
            break
    assert len(caches) == 3, "namespaces never reached every shard"
    return [c for group in caches.values() for c in group]


@pytest.fixture
def tenants(redis_cluster_url: str) -> Iterator[list[TieredCache]]:
    caches = spread(redis_cluster_url, 2, semantic=False)
    yield caches
    for cache in caches:
        cache.clear(aux=True)
        cache.close()


def keys_by_node(url: str, pattern: str) -> dict[str, list[bytes]]:
    from redis.cluster import RedisCluster

    cluster = RedisCluster.from_url(url)
    out = {}
    for node in cluster.get_primaries():
        client = cluster.get_redis_connection(node)
        out[node.name] = list(client.scan_iter(match=pattern, count=1000))
    cluster.close()
    return out


def test_any_node_is_a_door_to_the_cluster(redis_cluster_url: str) -> None:
    from redis.cluster import RedisCluster

    cluster = RedisCluster.from_url(redis_cluster_url)
    urls = [f"redis://{n.host}:{n.port}/0" for n in cluster.get_primaries()]
    cluster.close()
    namespace = f"door-{uuid.uuid4().hex[:8]}"
    first = TieredCache.from_url(urls[0], namespace=namespace, semantic=False)
    req = first.request("What is the capital of France?", model="m")
    assert first.redis.cluster is True
    assert first.store(req, "Paris.")
    for url in urls:  # every node, whatever shard owns the namespace
        cache = TieredCache.from_url(url, namespace=namespace, semantic=False)
        hit = cache.lookup(req)
        assert hit is not None and hit.payload == "Paris."
        cache.close()
    first.clear()
    first.close()


def test_a_namespace_lives_on_one_shard_and_tenants_spread(
    redis_cluster_url: str, tenants: list[TieredCache]
) -> None:
    for n, cache in enumerate(tenants):
        for i in range(5):
            cache.store(cache.request(f"question {i}", model="m"), f"answer {n}.{i}")
        cache.aux.set("state", b"s")
    owners = set()
    for n, cache in enumerate(tenants):
        where = keys_by_node(redis_cluster_url, f"{cache.redis.keys.base}*")
        holding = [node for node, keys in where.items() if keys]
        assert len(holding) == 1, f"namespace {n} is spread over {holding}"
        owners.add(holding[0])
        hit = cache.lookup(cache.request("question 3", model="m"))
        assert hit is not None and hit.payload == f"answer {n}.3"
    assert len(owners) == 3


async def test_clear_deletes_exactly_its_namespace_and_ends(tenants: list[TieredCache]) -> None:
    for cache in tenants:
        cache.warm([(cache.request(f"q{i}", model="m"), f"a{i}") for i in range(150)])
    victim, *others = tenants
    await victim.aclear()
    assert victim.lookup(victim.request("q7", model="m")) is None
    for cache in others:
        hit = cache.lookup(cache.request("q7", model="m"))
        assert hit is not None and hit.payload == "a7"
    others[0].clear()
    assert others[0].lookup(others[0].request("q7", model="m")) is None
    hit = others[1].lookup(others[1].request("q7", model="m"))
    assert hit is not None and hit.payload == "a7"


def test_semantic_hits_warm_stats_and_the_near_cache_on_a_cluster(
    redis_cluster_url: str,
) -> None:
    emb = MapEmbedder()
    emb.pair("question 3", "question three, reworded", 0.97)
    caches = spread(redis_cluster_url, 1, embedder=emb, verifier=False)
    try:
        for cache in caches:
            assert (
                cache.warm(
                    [(cache.request(f"question {i}", model="m"), f"a{i}") for i in range(20)]
                )
                == 20
            )
            para = cache.lookup(cache.request("question three, reworded", model="m"))
            assert para is not None and (para.payload, para.tier) == ("a3", "semantic")
            req = cache.request("question 5", model="m")
            listener = cache.backends.entries._listener  # type: ignore[attr-defined]
            assert listener is not None and listener.connected.wait(10)
            assert listener.url == cache.redis.node_url()  # tracking on the owning shard
            served = cache.stats()["near_cache"]["served"]
            wait_for(
                lambda c=cache, r=req, s=served: (
                    c.lookup(r) is not None and c.stats()["near_cache"]["served"] > s
                ),
                "a repeat served in process",
            )
            other = TieredCache.from_url(
                redis_cluster_url, namespace=cache.config.namespace, semantic=False
            )
            other.store(req, "rewritten elsewhere")  # Redis tells the near cache
            wait_for(
                lambda c=cache, r=req: (
                    (hit := c.lookup(r)) is not None and hit.payload == "rewritten elsewhere"
                ),
                "the invalidation",
            )
            other.close()
            from tiered_cache.backends.redis.shared_stats import read_shared_stats

            shared = read_shared_stats(cache.redis.node(), cache.redis.keys.base)
            assert shared["entries"] == 20
    finally:
        for cache in caches:
            cache.clear()
            cache.close()


def test_a_dead_shard_degrades_only_its_namespaces() -> None:
    """A primary killed under load: its namespaces are misses (counted, never raised), the
    others keep hitting, and once it is back its namespaces hit again without a restart."""
    cluster = RedisStackCluster().start()
    caches: list[TieredCache] = []
    try:
        caches = spread(cluster.url, 1, semantic=False, breaker_cooldown=0.2)
        by_owner = {c.redis.node_url(): c for c in caches}
        victim_url = next(u for u in by_owner if not u.endswith(f":{cluster.nodes[0].port}/0"))
        victim = by_owner[victim_url]
        survivors = [c for u, c in by_owner.items() if u != victim_url]
        reqs = {id(c): c.request("What is the capital of France?", model="m") for c in caches}
        for cache in caches:
            assert cache.store(reqs[id(cache)], "Paris.")
        node = next(n for n in cluster.nodes if victim_url.endswith(f":{n.port}/0"))
        node.stop()
        for _ in range(50):  # bounded load while the shard is down
            assert victim.lookup(reqs[id(victim)]) is None
            for cache in survivors:
                hit = cache.lookup(reqs[id(cache)])
                assert hit is not None and hit.payload == "Paris."
        assert victim.stats()["errors"] > 0
        assert all(c.stats()["errors"] == 0 for c in survivors)
        node.start()  # same port and nodes.conf: it takes its slots back, empty

        def served_again() -> bool:
            victim.store(reqs[id(victim)], "Paris, again.")
            hit = victim.lookup(reqs[id(victim)])
            return hit is not None and hit.payload == "Paris, again."

        wait_for(served_again, "the shard's namespaces to hit again", timeout=60)
    finally:
        for cache in caches:
            cache.close()
        cluster.stop()
