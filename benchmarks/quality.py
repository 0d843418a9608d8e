"""Quality of semantic hits: are they right? Labelled Quora pairs and paraphrase pairs.

    python -m benchmarks.quality          # report (held-back split + paraphrase mock)
    python -m benchmarks.quality --fit    # first refit the verifier on the fit split

The QQP file is split 50/50 by a hash of each pair: the verifier weights and its cut-off (at
the default threshold) are fitted on the "fit" half only; every figure printed is on the
"report" half (and on the paraphrase mock, which all should hit). For each pair, `a` is stored (its
payload names it) in a partition of its own, and `b` is looked up through a real TieredCache
(embedded backend, all-MiniLM-L6-v2). A duplicate that hits is a true hit; a non-duplicate that
hits is a false hit.

Threshold sweeps come from one pass with a near-zero threshold and the verifier off, recording
the similarity of each pair's candidate and the verifier's score of it; the "default" row comes
from real lookups with the shipped configuration. Writes benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tiered_cache import CacheConfig, TieredCache
from tiered_cache.backends.protocols import Vector
from tiered_cache.embeddings.embedder import SentenceTransformerEmbedder
from tiered_cache.normalize import Normalizer
from tiered_cache.quality.calibrate import THRESHOLDS, ScoredPairs, choose
from tiered_cache.quality.verifier import (
    FEATURE_NAMES,
    WEIGHTS_FILE,
    Verifier,
    VerifierWeights,
    _parse,
    _stem,
    feature_matrix,
    fit_logistic,
)

from ._common import load_paraphrases, load_qqp, percentiles, print_table, write_json

WEIGHTS_PATH = (
    Path(__file__).resolve().parent.parent / "core" / "tiered_cache" / "quality" / WEIGHTS_FILE
)
TRANSFER_TARGETS = (0.85, 0.90, 0.95)
SWEEP = [round(t, 2) for t in np.arange(0.80, 0.985, 0.01)]
TARGET = 0.90  # the bar: the oracle rows show the most any setting gets there
# The shipped cut-off is the one `calibrate` picks on the fit split for precision 0.90 with the
# threshold held at 0.90 (a cheap pre-filter below which natural paraphrases such as "Summarize
# the plot of Hamlet." / "Give me a summary of Hamlet's plot." would be lost), judged on the
# point estimate. QQP labels cap precision near 0.90 whatever the setting (8% of pairs at cosine
# >= 0.98 are labelled "different"): on the report split it stays within 0.896-0.903 from
# threshold 0.90 to 0.95 with the verifier on, while the hit rate falls from 0.23 to 0.17, so the
# default keeps the hit rate. `calibrate` itself judges a 95% lower confidence bound.
DEFAULT_THRESHOLD = 0.90
FIT_TARGET = 0.90
FIT_CONFIDENCE = 0.5
ALTERNATIVES = (0.85, 0.90, 0.95)  # calibrated on the fit split, checked on the report split
FIT_L2 = 10.0
FIT_FLOOR = 0.75  # the verifier only ever judges candidates this similar: fit it there
VETOES = ("number_mismatch", "year_mismatch", "negation_mismatch", "comparison_mismatch")


def split_of(a: str, b: str) -> str:
    """'fit' or 'report', fixed by a hash of the pair (stable across runs and machines)."""
    return "fit" if hashlib.sha256(f"{a}\x1f{b}".encode()).digest()[0] % 2 == 0 else "report"


class MemoEmbedder:
    """The real model, each text encoded once per run (both caches of the run share it);
    optionally kept in an .npz file between runs."""

    def __init__(self, path: str | None = None) -> None:
        self.inner = SentenceTransformerEmbedder()
        self.memo: dict[str, Vector] = {}
        self.path = Path(path) if path else None
        if self.path is not None and self.path.exists():
            saved = np.load(self.path, allow_pickle=False)
            if str(saved["model"]) == self.inner.model_id:
                self.memo = dict(zip(saved["texts"].tolist(), saved["vectors"], strict=True))

    def save(self) -> None:
        if self.path is not None and self.memo:
            texts = list(self.memo)
            np.savez(
                self.path,
                model=np.array(self.inner.model_id),
                texts=np.array(texts),
                vectors=np.stack([self.memo[t] for t in texts]),
            )

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: list[str]) -> Any:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            for text, vec in zip(missing, self.inner.encode(missing), strict=True):
                self.memo[text] = vec
        return np.stack([self.memo[t] for t in texts])


def _request(cache: TieredCache, text: str, pair: str) -> Any:
    # A model name per pair: each stored question sits alone in its partition.
    return cache.request(text, model=f"quality-{pair}")


def run_pairs(
    cache: TieredCache, pairs: Sequence[tuple[str, str, str]]
) -> list[tuple[str, float, str | None]]:
    """Store each `a`, look up each `b`: (outcome tier or 'miss', similarity, matched text)."""
    cache.warm((_request(cache, a, pid), f"answer to: {a}") for pid, a, _ in pairs)
    out: list[tuple[str, float, str | None]] = []
    for pid, a, b in pairs:
        hit = cache.lookup(_request(cache, b, pid))
        if hit is None:
            out.append(("miss", -1.0, None))
            continue
        assert hit.payload == f"answer to: {a}", "a hit from another partition"
        out.append((hit.tier, hit.similarity, hit.matched_query))
    return out


def rates(hit: np.ndarray[Any, Any], dup: np.ndarray[Any, Any]) -> dict[str, Any]:
    tp = int(np.count_nonzero(hit & dup))
    fp = int(np.count_nonzero(hit & ~dup))
    n_dup, n_non = int(dup.sum()), int((~dup).sum())
    return {
        "hit_rate_dup": tp / n_dup if n_dup else None,
        "false_hit_rate": fp / n_non if n_non else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "hits": tp + fp,
    }


def fit(embedder: MemoEmbedder, rows: list[dict[str, Any]]) -> VerifierWeights:
    """Fit the verifier and choose the default threshold and cut-off, on the fit split only."""
    norm = Normalizer()
    pairs = [(norm(r["a"]), norm(r["b"]), bool(r["duplicate"])) for r in rows]
    texts = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
    vecs = dict(zip(texts, embedder.encode(texts), strict=True))
    sims = np.array([float(vecs[a] @ vecs[b]) for a, b, _ in pairs])
    y = np.array([d for _, _, d in pairs], dtype=bool)
    x = feature_matrix([(b, a, s) for (a, b, _), s in zip(pairs, sims, strict=True)])
    vetoed = np.zeros(len(pairs), dtype=bool)
    for name in VETOES:
        vetoed |= x[:, FEATURE_NAMES.index(name)] > 0
    train = (sims >= FIT_FLOOR) & ~vetoed
    cols = [i for i, name in enumerate(FEATURE_NAMES) if name not in VETOES]
    features = tuple(FEATURE_NAMES[i] for i in cols)
    weights, bias = fit_logistic(x[train][:, cols], y[train].astype(np.float64), l2=FIT_L2)
    draft = VerifierWeights(features, tuple(map(float, weights)), bias, cutoff=0.5, vetoes=VETOES)
    verifier = Verifier(draft)
    scores = np.array([verifier.score(b, a, s) for (a, b, _), s in zip(pairs, sims, strict=True)])
    exact = np.array([a == b for a, b, _ in pairs])
    scored = ScoredPairs(sims, scores, y, exact)
    grid = [t for t in THRESHOLDS if t >= FIT_FLOOR]  # the verifier was not fitted below
    chosen = choose(
        scored,
        FIT_TARGET,
        min_hits=50,
        thresholds=[DEFAULT_THRESHOLD],
        confidence=FIT_CONFIDENCE,
    )
    alternatives = {}
    for target in ALTERNATIVES:
        for mode, use in (("verifier", True), ("cosine", False)):
            alt = choose(scored, target, use_verifier=use, min_hits=50, thresholds=grid)
            alternatives[f"{target:.2f} {mode}"] = {
                "target": target,
                "reached": alt.reached,
                "threshold": alt.threshold,
                "verifier_cutoff": alt.verifier_cutoff,
                "fit_precision": round(alt.precision, 4),
                "fit_hit_rate": round(alt.hit_rate, 4),
            }
    shipped = VerifierWeights(
        features,
        tuple(float(w) for w in weights),
        bias,
        cutoff=float(chosen.verifier_cutoff or 0.5),
        threshold=chosen.threshold,
        floor=FIT_FLOOR,
        vetoes=VETOES,
        meta={
            "fitted_on": "qqp_labeled_dev.jsonl, 'fit' half (sha256(a + '\\x1f' + b)[0] even)",
            "pairs": len(pairs),
            "duplicates": int(y.sum()),
            "trained_on": f"pairs with cosine >= {FIT_FLOOR} and no veto: {int(train.sum())}",
            "l2": FIT_L2,
            "embedding_model": embedder.model_id,
            "chosen_for_target_precision": FIT_TARGET,
            "chosen_at_confidence": FIT_CONFIDENCE,
            "chosen_with_threshold": DEFAULT_THRESHOLD,
            "fit_split": {
                "precision": round(chosen.precision, 4),
                "hit_rate": round(chosen.hit_rate, 4),
                "false_hit_rate": round(chosen.false_hit_rate, 4),
            },
            "alternatives_by_target_precision": alternatives,
        },
    )
    WEIGHTS_PATH.write_text(shipped.to_json() + "\n")
    print(f"fitted on {len(pairs)} pairs -> {WEIGHTS_PATH}")
    print(f"fit split: {chosen.summary()}")
    return shipped


def verifier_latency(verifier: Verifier, triples: list[tuple[str, str, float]]) -> dict[str, Any]:
    """Per-candidate cost of the verifier on texts it has not seen (its caches cleared first):
    wall-clock percentiles, and CPU time (the machine may be shared)."""
    _parse.cache_clear()
    _stem.cache_clear()
    samples = []
    cpu = time.process_time()
    for a, b, s in triples:
        start = time.perf_counter()
        verifier.score(a, b, s)
        samples.append(time.perf_counter() - start)
    cpu_us = 1e6 * (time.process_time() - cpu) / max(1, len(triples))
    wall = percentiles(samples)
    return {
        "p50_us": 1000 * wall["p50_ms"],
        "p99_us": 1000 * wall["p99_ms"],
        "mean_us": 1000 * wall["mean_ms"],
        "cpu_mean_us": cpu_us,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fit", action="store_true", help="refit the verifier weights first")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pairs (smoke)")
    parser.add_argument("--embeddings-cache", default=None, help="keep embeddings in this .npz")
    args = parser.parse_args(argv)

    qqp = load_qqp()
    paraphrases = load_paraphrases()
    if args.limit:
        qqp, paraphrases = qqp[: args.limit], paraphrases[: args.limit]
    fit_rows = [r for r in qqp if split_of(r["a"], r["b"]) == "fit"]
    report_rows = [r for r in qqp if split_of(r["a"], r["b"]) == "report"]
    embedder = MemoEmbedder(args.embeddings_cache)
    norm = Normalizer()
    all_texts = {norm(t) for r in (qqp if args.fit else report_rows) for t in (r["a"], r["b"])}
    all_texts |= {norm(t) for p in paraphrases for t in (p["origin"], p["similar"])}
    started = time.perf_counter()
    embedder.encode(sorted(all_texts))  # one batch, every text once
    embed_seconds = time.perf_counter() - started
    embedder.save()
    if args.fit:
        fit(embedder, fit_rows)

    report_pairs = [(f"q{i}", r["a"], r["b"]) for i, r in enumerate(report_rows)]
    para_pairs = [(f"p{i}", p["origin"], p["similar"]) for i, p in enumerate(paraphrases)]
    dup = np.array([bool(r["duplicate"]) for r in report_rows])

    # Real lookups with the shipped defaults (only the embedder is shared, for speed).
    default = TieredCache(embedder=embedder)
    assert default.verifier is not None
    verifier = default.verifier
    defaults = CacheConfig()
    default_report = run_pairs(default, report_pairs)
    default_para = run_pairs(default, para_pairs)
    default_stats = default.stats()
    default.close()

    # One sweep pass: every candidate served, so its similarity and verifier score are seen.
    sweep = TieredCache(embedder=embedder, threshold=1e-6, verifier=False, adaptive_threshold=False)
    sweep_report = run_pairs(sweep, report_pairs)
    sweep_para = run_pairs(sweep, para_pairs)
    sweep.close()

    def arrays(
        records: list[tuple[str, float, str | None]], pairs: Sequence[tuple[str, str, str]]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        sims = np.array([s for _, s, _ in records])
        exact = np.array([tier == "exact" for tier, _, _ in records])
        scores = np.array(
            [
                verifier.score(norm(b), m, s) if m is not None and tier == "semantic" else 0.0
                for (tier, s, m), (_, _, b) in zip(records, pairs, strict=True)
            ]
        )
        return sims, exact, scores

    sims, exact, scores = arrays(sweep_report, report_pairs)
    psims, pexact, pscores = arrays(sweep_para, para_pairs)
    cutoff = verifier.cutoff
    rows: list[dict[str, Any]] = []
    for t in SWEEP:
        for label, accept, paccept in (
            ("cosine", sims >= t, psims >= t),
            ("+verifier", (sims >= t) & (scores >= cutoff), (psims >= t) & (pscores >= cutoff)),
        ):
            rows.append(
                {
                    "threshold": t,
                    "mode": label,
                    **rates(exact | accept, dup),
                    "paraphrase_hit_rate": float(np.mean(pexact | paccept)),
                }
            )
    alternatives = []
    for label, alt in verifier.weights.meta.get("alternatives_by_target_precision", {}).items():
        t, c = alt["threshold"], alt["verifier_cutoff"] or 0.0
        measured = rates(exact | ((sims >= t) & (scores >= c)), dup)
        if not alt["reached"]:
            verdict = "unreachable (said on fit)"
        elif (measured["precision"] or 0.0) >= alt["target"] - 0.02:
            verdict = "met within 2 points"
        else:
            verdict = "MISSED"
        alternatives.append(
            {
                "target": label,
                "threshold": t,
                "cutoff": alt["verifier_cutoff"],
                "fit_precision": alt["fit_precision"],
                **measured,
                "verdict": verdict,
                "paraphrase_hit_rate": float(np.mean(pexact | ((psims >= t) & (pscores >= c)))),
            }
        )
    hit_default = np.array([tier != "miss" for tier, _, _ in default_report])
    default_row = {
        "threshold": defaults.threshold,
        "mode": f"DEFAULT (+verifier >= {cutoff:.2f})",
        **rates(hit_default, dup),
        "paraphrase_hit_rate": float(np.mean([t != "miss" for t, _, _ in default_para])),
    }
    replayed = rates(exact | ((sims >= defaults.threshold) & (scores >= cutoff)), dup)
    # Oracle rows: the best each mode could do at target precision if tuned on the report half.
    oracle = {}
    for label, use in (("cosine", False), ("+verifier", True)):
        best = choose(
            ScoredPairs(sims, scores, dup, exact),
            TARGET,
            use_verifier=use,
            min_hits=30,
            confidence=0.5,  # the point estimate: an upper bound on what tuning could reach
        )
        oracle[label] = {
            "threshold": best.threshold,
            "cutoff": best.verifier_cutoff,
            "reached": best.reached,
            "precision": best.precision,
            "hit_rate_dup": best.hit_rate,
            "false_hit_rate": best.false_hit_rate,
        }
    triples = [
        (norm(b), norm(a), float(s)) for (_, a, b), s in zip(report_pairs, sims, strict=True)
    ]
    latency = verifier_latency(verifier, triples)

    columns = ["threshold", "mode", "hit_rate_dup", "false_hit_rate", "precision", "hits"]
    print_table(
        f"QQP report split: {len(report_rows)} pairs ({int(dup.sum())} duplicates), "
        f"all-MiniLM-L6-v2, embedded backend",
        [*rows, default_row],
        [*columns, "paraphrase_hit_rate"],
    )
    print_table(
        "Default configuration (real lookups)", [default_row], [*columns, "paraphrase_hit_rate"]
    )
    print(
        f"  defaults: threshold {defaults.threshold}, verifier cut-off {cutoff:.2f}; verifier "
        f"rejections {default_stats.get('verifier_rejections')}; replayed from the sweep: "
        f"precision {replayed['precision']:.3f}, hit rate {replayed['hit_rate_dup']:.3f}"
    )
    print_table(
        "calibrate(target_precision=p) on the fit split, scored on the report split",
        alternatives,
        ["target", "threshold", "cutoff", "fit_precision", "precision", "hit_rate_dup", "verdict"],
    )
    print_table(
        f"Best setting at precision >= {TARGET} if tuned on the report split itself (oracle)",
        [{"mode": k, **v} for k, v in oracle.items()],
        ["mode", "threshold", "cutoff", "reached", "precision", "hit_rate_dup", "false_hit_rate"],
    )
    print(
        f"\nverifier per candidate (texts not seen before): wall p50 {latency['p50_us']:.0f} us, "
        f"p99 {latency['p99_us']:.0f} us, mean CPU {latency['cpu_mean_us']:.0f} us; "
        f"embedding {len(all_texts)} texts took {embed_seconds:.1f} s"
    )
    path = write_json(
        "quality",
        {
            "data": {
                "report_pairs": len(report_rows),
                "report_duplicates": int(dup.sum()),
                "fit_pairs": len(fit_rows),
                "paraphrase_pairs": len(para_pairs),
                "split": "sha256(a + '\\x1f' + b)[0]: even -> fit, odd -> report",
            },
            "default": {
                **default_row,
                "threshold": defaults.threshold,
                "verifier_cutoff": cutoff,
                "verifier_rejections": default_stats.get("verifier_rejections"),
                "replayed_from_sweep": replayed,
            },
            "sweep": rows,
            "fit_split_alternatives": alternatives,
            "oracle_on_report_split": oracle,
            "verifier_latency": latency,
            "weights": verifier.weights.meta,
        },
    )
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
