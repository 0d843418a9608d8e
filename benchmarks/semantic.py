"""Semantic-tier latency at N stored entries, on the embedded and the Redis backend, in one run.

    python -m benchmarks.semantic [--entries 10000] [--queries 300]

Prints p50/p95/p99 of exact repeats, semantic hits and semantic misses per backend, and the
embedding time alone (one query; batched), then writes benchmarks/results/semantic.json.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from tiered_cache import CacheRequest, TieredCache

from ._common import (
    load_paraphrases,
    load_qqp,
    percentiles,
    print_table,
    redis_url,
    timed,
    write_json,
)

SYSTEM = "You are a helpful assistant. Answer in one short paragraph."


def workload(entries: int, queries: int, seed: int = 7) -> dict[str, list[str]]:
    """Stored questions, paraphrases of stored ones (hits) and unrelated ones (misses)."""
    rng = random.Random(seed)
    pairs = load_paraphrases()
    rng.shuffle(pairs)
    hit_pairs = pairs[:queries]
    qqp = list(dict.fromkeys(q for row in load_qqp() for q in (row["a"], row["b"])))
    rng.shuffle(qqp)
    miss = qqp[:queries]
    fill = qqp[queries : queries + entries - len(hit_pairs)]
    stored = [p["origin"] for p in hit_pairs] + fill
    return {"stored": stored, "hit": [p["similar"] for p in hit_pairs], "miss": miss}


def request(cache: TieredCache, question: str) -> CacheRequest:
    return cache.request(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        model="bench-model",
        params={"temperature": 0},
    )


def run_backend(name: str, cache: TieredCache, load: dict[str, list[str]]) -> dict[str, Any]:
    cache.clear()
    cache.warm((request(cache, q), f"answer to: {q}") for q in load["stored"])
    assert cache.embeddings is not None
    results: dict[str, Any] = {}
    exact = [request(cache, q) for q in load["stored"][: len(load["hit"])]]
    results["exact repeat"] = percentiles(
        [s for r in exact for s in timed(lambda r=r: cache.lookup(r), 1)]
    )
    outcomes = {"semantic hit": [], "semantic miss": []}  # type: dict[str, list[float]]
    served = 0
    for q in load["hit"] + load["miss"]:
        cache.embeddings._memo.clear()  # a new question: the lookup pays for its embedding
        req = request(cache, q)
        start = time.perf_counter()
        hit = cache.lookup(req)
        seconds = time.perf_counter() - start
        outcomes[
            "semantic hit" if hit is not None and hit.tier == "semantic" else "semantic miss"
        ].append(seconds)
        if hit is not None and q in load["hit"]:
            served += 1
    for label, samples in outcomes.items():
        if samples:
            results[label] = percentiles(samples)
    results["paraphrase hit rate"] = served / len(load["hit"])
    cache.clear()
    cache.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    load = workload(args.entries, args.queries)

    embedded = TieredCache(namespace="bench", max_entries=args.entries * 2)
    assert embedded.embeddings is not None
    embedder = embedded.embeddings.embedder
    embedder.encode(["warm up"])
    single = percentiles(
        timed(lambda: embedder.encode(["What is the tallest mountain in Europe?"]), 50)
    )
    batch = load["miss"][:64]
    per_item = [s / len(batch) for s in timed(lambda: embedder.encode(batch), 5)]
    report: dict[str, Any] = {
        "entries": len(load["stored"]),
        "queries": args.queries,
        "embedding": {"single query": single, "batched 64, per item": percentiles(per_item)},
    }
    report["embedded"] = run_backend("embedded", embedded, load)
    with redis_url() as url:
        report["redis"] = run_backend("redis", TieredCache.from_url(url, namespace="bench"), load)

    rows = [{"measure": f"embed {k}", **v} for k, v in report["embedding"].items()]
    for backend in ("embedded", "redis"):
        for measure, figures in report[backend].items():
            if isinstance(figures, dict):
                rows.append({"measure": f"{backend}: {measure}", **figures})
    print_table(
        f"Semantic tier, {report['entries']} stored entries, all-MiniLM-L6-v2 on CPU",
        rows,
        ["measure", "n", "p50_ms", "p95_ms", "p99_ms", "mean_ms"],
    )
    for backend in ("embedded", "redis"):
        print(f"{backend}: paraphrase hit rate {report[backend]['paraphrase hit rate']:.1%}")
    print(f"JSON: {write_json('semantic', report)}")


if __name__ == "__main__":
    main()
