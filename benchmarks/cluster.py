"""One Redis vs a 3-primary Redis Cluster, in one run: exact and semantic hit latency, and
lookups per second with the namespaces spread over the shards vs all on one shard.

    python -m benchmarks.cluster [--entries 300] [--queries 200] [--seconds 5]

Both servers are Redis Stack 7.4 on loopback, started for the run. Semantic lookups embed their
question with the real all-MiniLM-L6-v2 (memoized after the first lookup, so the p50 is the
cache's own cost). Throughput: 8 threads, each with its own namespace, send exact lookups for
`--seconds`; "one shard" picks 8 namespaces that hash to the same shard. Writes
benchmarks/results/cluster.json.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import Any

from tiered_cache import TieredCache

from ._common import load_paraphrases, percentiles, print_table, timed, write_json


def latency(cache: TieredCache, entries: int, queries: int) -> dict[str, Any]:
    pairs = load_paraphrases()[: max(entries, queries)]
    cache.warm((cache.request(p["origin"], model="bench"), p["origin"]) for p in pairs[:entries])
    exact = [cache.request(p["origin"], model="bench") for p in pairs[:queries]]
    para = [cache.request(p["similar"], model="bench") for p in pairs[:queries]]
    first = [s for r in exact for s in timed(lambda r=r: cache.lookup(r), 1)]  # a round trip
    repeat = [s for r in exact for s in timed(lambda r=r: cache.lookup(r), 1)]  # near cache
    assert cache.embeddings is not None
    cache.embeddings.embed_many([r.query_text or "" for r in para])  # memoized from here on
    semantic = [s for r in para for s in timed(lambda r=r: cache.lookup(r), 1)]
    served = sum(1 for r in para if (h := cache.lookup(r)) is not None and h.tier == "semantic")
    return {
        "exact first read": percentiles(first)["p50_ms"],
        "exact repeat": percentiles(repeat)["p50_ms"],
        "semantic lookup": percentiles(semantic)["p50_ms"],
        "paraphrases served": served / len(para),
    }


def throughput(url: str, namespaces: list[str], seconds: float) -> float:
    caches = [
        TieredCache.from_url(url, namespace=ns, semantic=False, near_cache_size=0)
        for ns in namespaces
    ]
    reqs = [c.request("What is the capital of France?", model="bench") for c in caches]
    for c, r in zip(caches, reqs, strict=True):
        c.store(r, "Paris.")
    counts = [0] * len(caches)
    stop = threading.Event()

    def work(i: int) -> None:
        while not stop.is_set():
            caches[i].lookup(reqs[i])
            counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(caches))]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    for c in caches:
        c.clear()
        c.close()
    return sum(counts) / seconds


def namespaces_by_shard(url: str, count: int) -> tuple[list[str], list[str]]:
    """`count` namespaces spread round-robin over the shards, and `count` on one shard."""
    probe: dict[str, list[str]] = {}
    cache = TieredCache.from_url(url, namespace="probe", semantic=False)
    from tiered_cache.backends.redis.keyspace import Keyspace

    i = 0
    while min((len(v) for v in probe.values()), default=0) < count or len(probe) < 3:
        ns = f"bench-{i}-{uuid.uuid4().hex[:4]}"
        slot = cache.redis.client.keyslot(Keyspace("tc", ns, 1).tag_key)
        owner = cache.redis.client.nodes_manager.get_node_from_slot(slot).name
        probe.setdefault(owner, []).append(ns)
        i += 1
    cache.close()
    groups = list(probe.values())
    spread = [groups[j % len(groups)][j // len(groups)] for j in range(count)]
    return spread, groups[0][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    from tests.redis_server import RedisStackCluster, RedisStackServer

    single = RedisStackServer().start()
    cluster = RedisStackCluster().start()
    try:
        rows = []
        for name, url in (("one Redis", single.url), ("3-shard cluster", cluster.url)):
            cache = TieredCache.from_url(url, namespace=f"lat-{uuid.uuid4().hex[:6]}")
            rows.append({"backend": name, **latency(cache, args.entries, args.queries)})
            cache.clear()
            cache.close()
        spread, packed = namespaces_by_shard(cluster.url, args.threads)
        tput = {
            "one Redis": throughput(single.url, spread, args.seconds),
            "cluster, namespaces on 3 shards": throughput(cluster.url, spread, args.seconds),
            "cluster, namespaces on 1 shard": throughput(cluster.url, packed, args.seconds),
        }
    finally:
        cluster.stop()
        single.stop()
    columns = ["backend", "exact first read", "exact repeat", "semantic lookup"]
    columns.append("paraphrases served")
    title = "p50 latency, ms (repeats: near cache; semantic: its embedding memoized)"
    print_table(title, rows, columns)
    print_table(
        f"Exact lookups per second, {args.threads} threads, one namespace each",
        [{"setup": k, "lookups/s": v} for k, v in tput.items()],
        ["setup", "lookups/s"],
    )
    path = write_json("cluster", {"args": vars(args), "latency": rows, "throughput": tput})
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
