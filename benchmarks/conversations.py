"""Conversations: which pairs of chats are served, with history="exact" and "relevant".

    python -m benchmarks.conversations                 # report part
    python -m benchmarks.conversations --split build   # the part the rules were built on

For each pair of benchmarks/data/conversations_dev.jsonl (made by
`python -m benchmarks.data.make_conversations`), the conversation `a` is stored (its payload
names it) under a model of its own and `b` is looked up through a real TieredCache (embedded
backend, all-MiniLM-L6-v2, verifier + judge: the shipped defaults) with each `history` mode.
Should-hit pairs (reworded, irrelevant history, chatter) should be served; traps (context swap,
detail swap, intent flip) must miss. Latency: p50 of a lookup of `b` with history="relevant"
against a lookup of its final question alone, both on a fresh cache with the real embedder (no
embedding memoized across the two). Writes benchmarks/results/conversations.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tiered_cache import CacheConfig, TieredCache

from ._common import percentiles, print_table, write_json
from .quality import MemoEmbedder

DATA = Path(__file__).resolve().parent / "data" / "conversations_dev.jsonl"
MODES: tuple[Literal["exact", "relevant"], ...] = ("exact", "relevant")


def load(split: str) -> list[dict[str, Any]]:
    with DATA.open() as fh:
        rows = [json.loads(line) for line in fh]
    return [r for r in rows if split == "all" or r["split"] == split]


def served(cache: TieredCache, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Store each `a`, look up each `b`; a hit must return `a`'s payload."""
    for r in rows:
        cache.store(cache.request(r["a"], model=f"conv-{r['id']}"), f"answer to {r['id']}")
    out = []
    for r in rows:
        hit = cache.lookup(cache.request(r["b"], model=f"conv-{r['id']}"))
        assert hit is None or hit.payload == f"answer to {r['id']}", "a hit from another pair"
        out.append(hit is not None)
    return out


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def latency(rows: Sequence[dict[str, Any]], n: int) -> dict[str, Any]:
    """p50 of conversational lookups (history="relevant") and of single-question semantic
    lookups: the reworded twins of the contrast dev set (another wording of a stored question,
    so the lookup embeds, searches and verifies, as a conversational one does; the final
    messages of a conversation pair are the same text, which would be an exact hit)."""
    contrast = [
        json.loads(line)
        for line in (Path(__file__).parent / "data" / "contrast_dev.jsonl").read_text().splitlines()
        if line.strip()
    ]
    twins = [r for r in contrast if r["variant"] == "reworded"]
    out: dict[str, Any] = {}
    for name in ("single", "conversation"):
        cache = TieredCache(CacheConfig(history="relevant", metrics=False, shared_stats=False))
        cache.wait_ready()
        samples = []
        if name == "conversation":
            pairs = [(r["a"], r["b"], str(r["id"])) for r in rows[:n]]
        else:
            pairs = [(_user(t["a"]), _user(t["b"]), f"t{i}") for i, t in enumerate(twins[:n])]
        for a, b, pid in pairs:
            cache.store(cache.request(a, model=f"l-{pid}"), "x")
            request = cache.request(b, model=f"l-{pid}")
            start = time.perf_counter()
            cache.lookup(request)
            samples.append(time.perf_counter() - start)
        out[name] = percentiles(samples)
        cache.close()
    out["ratio_p50"] = out["conversation"]["p50_ms"] / out["single"]["p50_ms"]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="report", choices=("report", "build", "all"))
    parser.add_argument("--embeddings-cache", default=None, help="keep embeddings in this .npz")
    parser.add_argument("--latency-pairs", type=int, default=100, help="0: skip latency")
    parser.add_argument("--show", type=int, default=0, help="print up to N wrong outcomes")
    args = parser.parse_args(argv)

    embedder = MemoEmbedder(args.embeddings_cache)
    rows = load(args.split)
    table = []
    result: dict[str, Any] = {"split": args.split, "pairs": len(rows)}
    for mode in MODES:
        cache = TieredCache(
            CacheConfig(history=mode, metrics=False, shared_stats=False), embedder=embedder
        )
        hits = served(cache, rows)
        cache.close()
        by: dict[str, list[bool]] = defaultdict(list)
        for row, hit in zip(rows, hits, strict=True):
            by[row["kind"]].append(hit)
            by["should_hit" if row["should_hit"] else "traps"].append(hit)
        line: dict[str, Any] = {"history": mode}
        for kind, h in by.items():
            line[kind] = sum(h) / len(h)
        table.append(line)
        wrong = [r for r, h in zip(rows, hits, strict=True) if h != r["should_hit"]]
        for r in wrong[: args.show if mode == "relevant" else 0]:
            print(f"  {r['kind']:12s} a={r['a']}\n  {'':12s} b={r['b']}")
    kinds = ["should_hit", "reworded", "irrelevant", "chatter"]
    kinds += ["traps", "context_swap", "detail_swap", "intent_flip"]
    print_table(
        f"Conversation dev set, {args.split} part: {len(rows)} pairs, share served "
        "(should-hit kinds: higher is better; traps: must be 0)",
        table,
        ["history", *kinds],
    )
    result["served"] = table
    if args.latency_pairs:
        result["latency"] = lat = latency(rows, args.latency_pairs)
        print_table(
            "Lookup latency, fresh cache and real embedder (history='relevant')",
            [{"lookup": k, **lat[k]} for k in ("single", "conversation")],
            ["lookup", "n", "p50_ms", "p95_ms", "mean_ms"],
        )
        print(f"conversation / single p50: {lat['ratio_p50']:.2f}x")
    embedder.save()
    path = write_json("conversations", result)
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
