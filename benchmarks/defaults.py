"""The verifier cut-off and similarity threshold, chosen on Quora pairs the judge never saw.

    python -m benchmarks.defaults --embeddings-cache /tmp/emb.npz
    python -m benchmarks.defaults --no-judge --embeddings-cache /tmp/emb.npz

Dev pairs with no question in the training file, split by `benchmarks.quality.split_of`: the
curve (cut-off x threshold -> precision, hit rate on duplicates) on the 'fit' half (choose), the
chosen point (the highest hit rate at precision >= --target + --margin and hit rate >=
--min-hit-rate on that half) and the shipped one on the 'report' half. The decision is the
engine's: every veto, the near-repeat rule (down to cosine 0.45), then the verifier's score
(features + judge, the judge always asked: the engine's lazy judge gives the same answers)
against the cut-off. Texts go through the cache's own normalizer first. P-CHR AUC: the area
under precision against the cache hit ratio (hits / pairs) as the cut-off sweeps from 1 to 0 at
a threshold. `paraphrases`: the hit rate on the paraphrase mock (all should hit).
Writes benchmarks/results/defaults[_nojudge].json.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from tiered_cache import CacheConfig, TieredCache
from tiered_cache.rules import judge as judge_module
from tiered_cache.rules.features import extract_features
from tiered_cache.rules.near_repeat import FLOOR as NEAR_REPEAT_FLOOR
from tiered_cache.rules.near_repeat import near_repeat
from tiered_cache.rules.verifier import Verifier

from ._common import load_paraphrases, print_table, write_json
from .contrast import qqp_without_train_overlap
from .quality import MemoEmbedder

CUTOFFS = [round(0.70 + 0.01 * i, 2) for i in range(26)]
THRESHOLDS = [0.80, 0.82, 0.845, 0.86, 0.88, 0.90]
JUDGE_FLOOR = 0.70  # no threshold on the grid reaches below it


def scored(
    cache: TieredCache, verifier: Verifier, embedder: MemoEmbedder, rows: list[dict[str, Any]]
) -> dict[str, np.ndarray[Any, Any]]:
    """Per pair: cosine, verifier probability (0 on a veto), near-repeat hit, duplicate label."""
    a_txt = [cache.request(r["a"], model="m").query_text or "" for r in rows]
    b_txt = [cache.request(r["b"], model="m").query_text or "" for r in rows]
    va = np.asarray(embedder.encode(a_txt), dtype=np.float32)
    vb = np.asarray(embedder.encode(b_txt), dtype=np.float32)
    cos = np.sum(va * vb, axis=1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
    prob = np.zeros(len(rows))
    near = np.zeros(len(rows), dtype=bool)
    w = verifier.weights
    judge = judge_module.shared() if verifier.judged else None
    for i, (a, b, s) in enumerate(zip(a_txt, b_txt, cos, strict=True)):
        if s < min(NEAR_REPEAT_FLOOR, JUDGE_FLOOR):
            continue
        feats = extract_features(b, a, float(s))
        if any(feats[n] > 0 for n in w.vetoes):
            continue
        near[i] = s >= NEAR_REPEAT_FLOOR and near_repeat(b, a)
        if s < JUDGE_FLOOR:
            continue
        z = w.bias + sum(wt * feats[n] for n, wt in zip(w.features, w.weights, strict=True))
        if judge is not None:
            z += w.judge * judge.bounded_logit(b, a)
        prob[i] = 1.0 / (1.0 + math.exp(-z))
    dup = np.array([bool(r["duplicate"]) for r in rows])
    return {"cos": cos, "prob": prob, "near": near, "dup": dup}


def point(s: dict[str, np.ndarray[Any, Any]], threshold: float, cutoff: float) -> dict[str, Any]:
    hit = s["near"] | ((s["cos"] >= threshold) & (s["prob"] >= cutoff))
    dup = s["dup"]
    tp, fp = int(np.count_nonzero(hit & dup)), int(np.count_nonzero(hit & ~dup))
    return {
        "threshold": threshold,
        "cutoff": cutoff,
        "precision": tp / (tp + fp) if tp + fp else None,
        "hit_rate_dup": tp / int(dup.sum()),
        "hits": tp + fp,
    }


def pchr_auc(s: dict[str, np.ndarray[Any, Any]], threshold: float) -> float:
    """Area under precision against cache hit ratio (hits / pairs), the cut-off swept 1 -> 0."""
    score = np.where(s["near"], 2.0, np.where(s["cos"] >= threshold, s["prob"], -1.0))
    order = np.argsort(-score, kind="stable")
    served = score[order] > 0
    dup = s["dup"][order][served]
    n = len(score)
    tp = np.cumsum(dup)
    k = np.arange(1, len(dup) + 1)
    x = np.concatenate([[0.0], k / n])
    y = np.concatenate([[1.0 if len(dup) and dup[0] else 0.0], tp / k])
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embeddings-cache", default=None, help="keep embeddings in this .npz")
    parser.add_argument("--no-judge", action="store_true", help="the judge=False weights")
    parser.add_argument("--target", type=float, default=0.90, help="precision to reach")
    parser.add_argument("--margin", type=float, default=0.01, help="added to the target")
    parser.add_argument("--min-hit-rate", type=float, default=0.35, help="on duplicates")
    args = parser.parse_args(argv)

    judged = not args.no_judge
    embedder = MemoEmbedder(args.embeddings_cache)
    cache = TieredCache(CacheConfig(judge=judged), embedder=embedder)
    verifier = Verifier(judge=judged)
    shipped = (cache.config.similarity_threshold, verifier.cutoff)
    halves = {
        h: scored(cache, verifier, embedder, qqp_without_train_overlap(h))
        for h in ("fit", "report")
    }
    mock = [{"a": p["origin"], "b": p["similar"], "duplicate": True} for p in load_paraphrases()]
    paraphrases = scored(cache, verifier, embedder, mock)
    cache.close()
    embedder.save()

    curve = [point(halves["fit"], t, c) for t in THRESHOLDS for c in CUTOFFS]
    print_table(
        f"Choose half ('fit', no train overlap, {len(halves['fit']['dup'])} pairs), judge={judged}",
        curve,
        ["threshold", "cutoff", "precision", "hit_rate_dup", "hits"],
    )
    good = [
        p
        for p in curve
        if (p["precision"] or 0.0) >= args.target + args.margin
        and p["hit_rate_dup"] >= args.min_hit_rate
    ]
    chosen = max(good, key=lambda p: (p["hit_rate_dup"], p["cutoff"])) if good else None
    report = [
        {"which": "shipped", **point(halves["report"], *shipped)},
        {"which": "shipped, choose half", **point(halves["fit"], *shipped)},
    ]
    if chosen is not None:
        t, c = chosen["threshold"], chosen["cutoff"]
        report += [
            {"which": "chosen, choose half", **chosen},
            {"which": "chosen, report half", **point(halves["report"], t, c)},
        ]
    for row in report:
        row["paraphrases"] = point(paraphrases, row["threshold"], row["cutoff"])["hit_rate_dup"]
        row["pchr_auc"] = pchr_auc(
            halves["report" if "report" in row["which"] or row["which"] == "shipped" else "fit"],
            row["threshold"],
        )
    columns = ["which", "threshold", "cutoff", "precision", "hit_rate_dup", "hits", "pchr_auc"]
    print_table(
        f"Report half ('report', no train overlap, {len(halves['report']['dup'])} pairs)",
        report,
        [*columns, "paraphrases"],
    )
    if chosen is None:
        print(
            f"precision {args.target} + {args.margin} at hit rate {args.min_hit_rate} "
            "is not reached on the choose half"
        )
    path = write_json(
        "defaults" + ("" if judged else "_nojudge"),
        {"judge": judged, "curve": curve, "report": report},
    )
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
