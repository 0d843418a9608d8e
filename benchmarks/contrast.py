"""Opposite meanings and near repeats: the contrast dev set and Quora pairs, real lookups.

    python -m benchmarks.contrast                     # report part + Quora no-overlap pairs
    python -m benchmarks.contrast --split build       # the part the rules were built on

For each pair, `a` is stored (its payload names it) in a partition of its own and `b` is looked
up through a real TieredCache with the shipped defaults (embedded backend, all-MiniLM-L6-v2,
verifier + judge). The contrast set (benchmarks/data/contrast_dev.jsonl, made by
`python -m benchmarks.data.make_contrast`) is split by frame; the figures are on the report
part unless asked. Quora: the report half of the dev file (benchmarks.quality.split_of) minus
every pair with a question that also appears in the training file (the judge has seen those).
Writes benchmarks/results/contrast.json.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tiered_cache import TieredCache

from ._common import DATA, load_qqp, print_table, write_json
from .quality import MemoEmbedder, run_pairs, split_of

CONTRAST = Path(__file__).resolve().parent / "data" / "contrast_dev.jsonl"


def load_contrast(split: str) -> list[dict[str, Any]]:
    with CONTRAST.open() as fh:
        rows = [json.loads(line) for line in fh]
    return [r for r in rows if split == "all" or r["split"] == split]


def qqp_without_train_overlap(half: str = "report") -> list[dict[str, Any]]:
    """Dev pairs of `half` ("fit": choose on it; "report") neither of whose questions is in
    the training file."""
    seen: set[str] = set()
    with open(DATA / "qqp_labeled_train.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            seen.update((row["a"].strip(), row["b"].strip()))
    return [
        r
        for r in load_qqp()
        if split_of(r["a"], r["b"]) == half
        and r["a"].strip() not in seen
        and r["b"].strip() not in seen
    ]


def served(cache: TieredCache, pairs: Sequence[tuple[str, str, str]]) -> list[bool]:
    return [tier != "miss" for tier, _, _ in run_pairs(cache, pairs)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="report", choices=("report", "build", "all"))
    parser.add_argument("--embeddings-cache", default=None, help="keep embeddings in this .npz")
    parser.add_argument("--no-qqp", action="store_true", help="skip the Quora pairs")
    parser.add_argument("--label", default="", help="a name for this run in the JSON file name")
    parser.add_argument("--show", type=int, default=0, help="print up to N wrong outcomes")
    args = parser.parse_args(argv)

    embedder = MemoEmbedder(args.embeddings_cache)
    cache = TieredCache(embedder=embedder)
    rows = load_contrast(args.split)
    hits = served(cache, [(f"c{r['id']}", r["a"], r["b"]) for r in rows])
    by: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for row, hit in zip(rows, hits, strict=True):
        by[(row["variant"], "all")].append(hit)
        by[(row["variant"], row["kind"])].append(hit)
        if row["variant"] == "near_repeat":
            by[("near_repeat", f"~{row['perturbation']}")].append(hit)
    table = [
        {"variant": v, "kind": k, "pairs": len(h), "hit_rate": sum(h) / len(h)}
        for (v, k), h in sorted(by.items())
    ]
    print_table(
        f"Contrast dev set, {args.split} part: {len(rows)} pairs (traps must miss, "
        "near repeats and rewordings should hit)",
        table,
        ["variant", "kind", "pairs", "hit_rate"],
    )
    wrong = [
        (r["variant"], r["a"], r["b"])
        for r, h in zip(rows, hits, strict=True)
        if h != r["should_hit"]
    ]
    for variant, a, b in wrong[: args.show]:
        print(f"  {variant:12s} {a!r} -> {b!r}")
    result: dict[str, Any] = {"split": args.split, "contrast": table}
    if not args.no_qqp:
        qqp = qqp_without_train_overlap()
        qhits = served(cache, [(f"q{i}", r["a"], r["b"]) for i, r in enumerate(qqp)])
        tp = sum(h and r["duplicate"] for r, h in zip(qqp, qhits, strict=True))
        fp = sum(h and not r["duplicate"] for r, h in zip(qqp, qhits, strict=True))
        dups = sum(bool(r["duplicate"]) for r in qqp)
        quora = {
            "pairs": len(qqp),
            "duplicates": dups,
            "hit_rate_dup": tp / dups if dups else None,
            "precision": tp / (tp + fp) if tp + fp else None,
            "hits": tp + fp,
        }
        print_table(
            "Quora dev, report half, no question in the training file (real lookups)",
            [quora],
            ["pairs", "duplicates", "hit_rate_dup", "precision", "hits"],
        )
        result["quora_no_overlap"] = quora
    cache.close()
    embedder.save()
    path = write_json(f"contrast{'_' + args.label if args.label else ''}", result)
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
