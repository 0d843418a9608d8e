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
from tiered_cache import TieredCache
from tiered_cache.backends.protocols import Vector
from tiered_cache.embeddings.embedder import SentenceTransformerEmbedder
from tiered_cache.normalize import Normalizer
from tiered_cache.rules import judge as judge_module
from tiered_cache.rules.calibration import THRESHOLDS, ScoredPairs, choose
from tiered_cache.rules.features import FEATURE_NAMES, _parse, _stem
from tiered_cache.rules.verifier import (
    JUDGED_WEIGHTS_FILE,
    WEIGHTS_FILE,
    Verifier,
    VerifierWeights,
    _shipped_weights,
    feature_matrix,
    fit_logistic,
)

from ._common import load_paraphrases, load_qqp, percentiles, print_table, write_json

WEIGHTS_PATH = (
    Path(__file__).resolve().parent.parent / "core" / "tiered_cache" / "rules" / WEIGHTS_FILE
)
JUDGED_WEIGHTS_PATH = WEIGHTS_PATH.with_name(JUDGED_WEIGHTS_FILE)
TRANSFER_TARGETS = (0.85, 0.90, 0.95)
SWEEP = [round(t, 2) for t in np.arange(0.75, 0.985, 0.01)]
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
JUDGED_CONFIDENCE = (
    0.8  # the judged setting is chosen with a margin: it must hold on the report half
)
ALTERNATIVES = (0.85, 0.90, 0.95)  # calibrated on the fit split, checked on the report split
FIT_L2 = 10.0
# With the judge too: on the fit split, l2=10 gives the higher hit rate at the chosen setting
# (0.416 against 0.374 with l2=1, precision 0.90 at 80% confidence).
JUDGED_L2 = 10.0
FIT_FLOOR = 0.75  # the verifier only ever judges candidates this similar: fit it there
VETOES = (
    "number_mismatch",
    "year_mismatch",
    "negation_mismatch",
    "comparison_mismatch",
    "order_mismatch",
    "operand_order_mismatch",
    "contrast_mismatch",
    "role_reversal",
)


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


def judge_logits(pairs: Sequence[tuple[str, str, bool]], sims: np.ndarray[Any, Any]) -> Any:
    """The judge's clipped logit for (b, a) where the pair's cosine reaches FIT_FLOOR (below it
    no threshold on the grid lets a candidate through; 0.0 there)."""
    judge = judge_module.shared()
    return np.array(
        [
            judge.bounded_logit(b, a) if s >= FIT_FLOOR else 0.0
            for (a, b, _), s in zip(pairs, sims, strict=True)
        ]
    )


def fit(
    embedder: MemoEmbedder, rows: list[dict[str, Any]], judged: bool, no_overlap: bool = False
) -> VerifierWeights:
    """Fit the verifier and choose the default threshold and cut-off, on the fit split only.

    Without the judge the threshold is held at DEFAULT_THRESHOLD; with it (its logit one more
    feature) the threshold is chosen too, on the grid from FIT_FLOOR up: the judge can tell a
    paraphrase at cosine 0.8 from a near miss, so the pre-filter can let more through."""
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
    design = x[:, cols]
    judge_version = None
    if judged:
        design = np.hstack([design, judge_logits(pairs, sims)[:, None]])
        judge_version = judge_module.card()["version"]
    l2 = JUDGED_L2 if judged else FIT_L2
    fitted, bias = fit_logistic(design[train], y[train].astype(np.float64), l2=l2)
    weights = tuple(float(w) for w in fitted[: len(features)])
    judge_weight = float(fitted[-1]) if judged else 0.0
    draft = VerifierWeights(
        features,
        weights,
        bias,
        cutoff=0.5,
        vetoes=VETOES,
        judge=judge_weight,
        judge_version=judge_version,
    )
    verifier = Verifier(draft)
    scores = np.array([verifier.score(b, a, s) for (a, b, _), s in zip(pairs, sims, strict=True)])
    exact = np.array([a == b for a, b, _ in pairs])
    scored = ScoredPairs(sims, scores, y, exact)
    grid = [t for t in THRESHOLDS if t >= FIT_FLOOR]  # the verifier was not fitted below
    confidence = JUDGED_CONFIDENCE if judged else FIT_CONFIDENCE
    chosen = choose(
        scored,
        FIT_TARGET,
        min_hits=50,
        thresholds=grid if judged else [DEFAULT_THRESHOLD],
        confidence=confidence,
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
        weights,
        bias,
        cutoff=float(chosen.verifier_cutoff or 0.5),
        threshold=chosen.threshold,
        floor=FIT_FLOOR,
        vetoes=VETOES,
        judge=judge_weight,
        judge_version=judge_version,
        meta={
            "fitted_on": "qqp_labeled_dev.jsonl, 'fit' half (sha256(a + '\\x1f' + b)[0] even)"
            + (", pairs without a question of the training file" if no_overlap else ""),
            "pairs": len(pairs),
            "duplicates": int(y.sum()),
            "trained_on": f"pairs with cosine >= {FIT_FLOOR} and no veto: {int(train.sum())}",
            "l2": l2,
            "embedding_model": embedder.model_id,
            "judge": judge_version,
            "judge_precision": judge_module.shared().precision if judged else None,
            "chosen_for_target_precision": FIT_TARGET,
            "chosen_at_confidence": confidence,
            "chosen_with_threshold": chosen.threshold if judged else DEFAULT_THRESHOLD,
            "fit_split": {
                "precision": round(chosen.precision, 4),
                "hit_rate": round(chosen.hit_rate, 4),
                "false_hit_rate": round(chosen.false_hit_rate, 4),
            },
            "alternatives_by_target_precision": alternatives,
        },
    )
    path = JUDGED_WEIGHTS_PATH if judged else WEIGHTS_PATH
    path.write_text(shipped.to_json() + "\n")
    print(f"fitted on {len(pairs)} pairs -> {path}")
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
    parser.add_argument("--latency-pairs", type=int, default=400, help="pairs timed (real model)")
    parser.add_argument(
        "--fit-on",
        choices=("no-overlap", "all"),
        default="no-overlap",
        help="fit on the fit half's pairs without a question of the judge's training file "
        "(default: the judge is overconfident on questions it trained on), or on all of them",
    )
    args = parser.parse_args(argv)

    qqp = load_qqp()
    paraphrases = load_paraphrases()
    if args.limit:
        qqp, paraphrases = qqp[: args.limit], paraphrases[: args.limit]
    fit_rows = [r for r in qqp if split_of(r["a"], r["b"]) == "fit"]
    if args.fit_on == "no-overlap":
        from .contrast import qqp_without_train_overlap  # it imports this module

        fit_rows = qqp_without_train_overlap("fit")
        if args.limit:
            fit_rows = fit_rows[: args.limit]
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
        no_overlap = args.fit_on == "no-overlap"
        fit(embedder, fit_rows, judged=False, no_overlap=no_overlap)
        fit(embedder, fit_rows, judged=True, no_overlap=no_overlap)
        _shipped_weights.cache_clear()  # read the new files

    report_pairs = [(f"q{i}", r["a"], r["b"]) for i, r in enumerate(report_rows)]
    para_pairs = [(f"p{i}", p["origin"], p["similar"]) for i, p in enumerate(paraphrases)]
    dup = np.array([bool(r["duplicate"]) for r in report_rows])

    # Real lookups with the shipped defaults, and with the verifier's features only (the judge
    # off, as before it shipped); only the embedder is shared, for speed.
    configs: dict[str, dict[str, Any]] = {
        "DEFAULT": {},
        "features only (judge=False)": {"judge": False},
    }
    real: dict[str, dict[str, Any]] = {}
    for label, overrides in configs.items():
        cache = TieredCache(embedder=embedder, **overrides)
        assert cache.verifier is not None
        report = run_pairs(cache, report_pairs)
        para = run_pairs(cache, para_pairs)
        hit = np.array([tier != "miss" for tier, _, _ in report])
        real[label] = {
            "threshold": cache.config.similarity_threshold,
            "mode": f"{label} (cut-off {cache.verifier_cutoff:.2f})",
            **rates(hit, dup),
            "paraphrase_hit_rate": float(np.mean([t != "miss" for t, _, _ in para])),
            "judge_calls": cache.stats().get("judge_calls", 0),
            "lookups": len(report) + len(para),
        }
        cache.close()
    judged = Verifier()
    plain = Verifier(judge=False)
    assert judged.judged and not plain.judged

    # One sweep pass: every candidate served, so its similarity and verifier scores are seen.
    sweep = TieredCache(embedder=embedder, threshold=1e-6, verifier=False, adaptive_threshold=False)
    sweep_report = run_pairs(sweep, report_pairs)
    sweep_para = run_pairs(sweep, para_pairs)
    sweep.close()

    def arrays(
        records: list[tuple[str, float, str | None]],
        pairs: Sequence[tuple[str, str, str]],
        verifier: Verifier,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        sims = np.array([s for _, s, _ in records])
        exact = np.array([tier == "exact" for tier, _, _ in records])
        scores = np.array(
            [
                verifier.score(norm(b), m, s)
                if m is not None and tier == "semantic" and s >= FIT_FLOOR
                else 0.0
                for (tier, s, m), (_, _, b) in zip(records, pairs, strict=True)
            ]
        )
        return sims, exact, scores

    sims, exact, scores = arrays(sweep_report, report_pairs, plain)
    psims, pexact, pscores = arrays(sweep_para, para_pairs, plain)
    _, _, jscores = arrays(sweep_report, report_pairs, judged)
    _, _, jpscores = arrays(sweep_para, para_pairs, judged)
    modes: dict[str, tuple[float | None, Any, Any]] = {
        "cosine": (None, None, None),
        "+verifier": (plain.cutoff, scores, pscores),
        "+verifier+judge": (judged.cutoff, jscores, jpscores),
    }
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[tuple[float, float, float]]] = {}
    for t in SWEEP:
        for label, (cut, sc, psc) in modes.items():
            accept, paccept = sims >= t, psims >= t
            if cut is not None:
                accept, paccept = accept & (sc >= cut), paccept & (psc >= cut)
            row = {
                "threshold": t,
                "mode": label,
                **rates(exact | accept, dup),
                "paraphrase_hit_rate": float(np.mean(pexact | paccept)),
            }
            rows.append(row)
    # The precision / hit-rate curves: cosine over its threshold; a verifier over its cut-off
    # with its weights' threshold as the pre-filter.
    for t in np.arange(0.75, 0.995, 0.005):
        r = rates(exact | (sims >= t), dup)
        curves.setdefault("cosine (threshold swept)", []).append(
            (float(t), r["hit_rate_dup"] or 0.0, r["precision"] or 1.0)
        )
    for label, verifier, sc in (("+verifier", plain, scores), ("+verifier+judge", judged, jscores)):
        t = verifier.weights.threshold or 0.90
        for c in np.arange(0.05, 0.995, 0.01):
            r = rates(exact | ((sims >= t) & (sc >= c)), dup)
            curves.setdefault(f"{label} (cosine >= {t:.3f}, cut-off swept)", []).append(
                (float(c), r["hit_rate_dup"] or 0.0, r["precision"] or 1.0)
            )
    alternatives = []
    for name, verifier, sc in (("verifier", plain, scores), ("verifier+judge", judged, jscores)):
        for label, alt in verifier.weights.meta.get("alternatives_by_target_precision", {}).items():
            t, c = alt["threshold"], alt["verifier_cutoff"] or 0.0
            sc_ = sc if alt["verifier_cutoff"] is not None else np.ones_like(sc)
            measured = rates(exact | ((sims >= t) & (sc_ >= c)), dup)
            if not alt["reached"]:
                verdict = "unreachable (said on fit)"
            elif (measured["precision"] or 0.0) >= alt["target"] - 0.02:
                verdict = "met within 2 points"
            else:
                verdict = "MISSED"
            alternatives.append(
                {
                    "weights": name,
                    "target": label,
                    "threshold": t,
                    "cutoff": alt["verifier_cutoff"],
                    "fit_precision": alt["fit_precision"],
                    **measured,
                    "verdict": verdict,
                }
            )
    replayed = rates(exact | ((sims >= judged.weights.threshold) & (jscores >= judged.cutoff)), dup)
    # Oracle rows: the best each mode could do at target precision if tuned on the report half.
    oracle = {}
    for label, sc, use in (
        ("cosine", scores, False),
        ("+verifier", scores, True),
        ("+verifier+judge", jscores, True),
    ):
        best = choose(
            ScoredPairs(sims, sc, dup, exact),
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
    latency = verifier_latency(plain, triples)
    lookups = lookup_latency(report_pairs[: args.latency_pairs])
    png = plot_curves(curves, real)

    columns = ["threshold", "mode", "hit_rate_dup", "false_hit_rate", "precision", "hits"]
    print_table(
        f"QQP report split: {len(report_rows)} pairs ({int(dup.sum())} duplicates), "
        f"all-MiniLM-L6-v2, embedded backend",
        rows,
        [*columns, "paraphrase_hit_rate"],
    )
    print_table(
        "Shipped configurations (real lookups; paraphrase mock: 999 pairs, all should hit)",
        list(real.values()),
        [*columns, "paraphrase_hit_rate", "judge_calls", "lookups"],
    )
    default = real["DEFAULT"]
    print(
        f"  replayed from the sweep at the default setting: precision {replayed['precision']:.3f}, "
        f"hit rate {replayed['hit_rate_dup']:.3f}"
    )
    print_table(
        "calibrate(target_precision=p) on the fit split, scored on the report split",
        alternatives,
        ["weights", "target", "threshold", "cutoff", "fit_precision", "precision",
         "hit_rate_dup", "verdict"],
    )  # fmt: skip
    print_table(
        f"Best setting at precision >= {TARGET} if tuned on the report split itself (oracle)",
        [{"mode": k, **v} for k, v in oracle.items()],
        ["mode", "threshold", "cutoff", "reached", "precision", "hit_rate_dup", "false_hit_rate"],
    )
    print_table(
        f"Semantic lookup latency, real embedding model, {lookups['pairs']} QQP pairs "
        "(ms; interleaved, one process)",
        lookups["rows"],
        ["config", "hit_p50_ms", "miss_p50_ms", "all_p50_ms", "all_mean_ms", "judge_calls"],
    )
    print(
        f"\nverifier features per candidate (texts not seen before): wall p50 "
        f"{latency['p50_us']:.0f} us, p99 {latency['p99_us']:.0f} us, mean CPU "
        f"{latency['cpu_mean_us']:.0f} us; judge per call p50 {lookups['judge_p50_ms']:.2f} ms; "
        f"embedding {len(all_texts)} texts took {embed_seconds:.1f} s\ncurves: {png}"
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
            "default": {**default, "replayed_from_sweep": replayed},
            "configurations": real,
            "sweep": rows,
            "fit_split_alternatives": alternatives,
            "oracle_on_report_split": oracle,
            "verifier_latency": latency,
            "lookup_latency": lookups,
            "judge": judge_module.card(),
            "weights": {"features_only": plain.weights.meta, "judged": judged.weights.meta},
        },
    )
    print(f"JSON: {path}")


def lookup_latency(pairs: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """A semantic lookup's cost with the real model (no memo), judge on vs off, interleaved:
    p50 of hits and of misses, and the judge's own cost per call."""
    embedder = SentenceTransformerEmbedder()
    caches = {
        "DEFAULT (judge on)": TieredCache(embedder=embedder),
        "judge=False": TieredCache(embedder=embedder, judge=False),
    }
    for cache in caches.values():
        cache.warm((_request(cache, a, pid), f"answer to: {a}") for pid, a, _ in pairs)
    samples: dict[str, dict[str, list[float]]] = {k: {"hit": [], "miss": []} for k in caches}
    for pid, _, b in pairs:
        for label, cache in caches.items():
            request = _request(cache, b, pid)
            started = time.perf_counter()
            hit = cache.lookup(request)
            elapsed = time.perf_counter() - started
            samples[label]["hit" if hit is not None else "miss"].append(elapsed)
    rows = []
    for label, cache in caches.items():
        both = samples[label]["hit"] + samples[label]["miss"]
        rows.append(
            {
                "config": label,
                "hit_p50_ms": percentiles(samples[label]["hit"])["p50_ms"]
                if samples[label]["hit"]
                else None,
                "miss_p50_ms": percentiles(samples[label]["miss"])["p50_ms"]
                if samples[label]["miss"]
                else None,
                "all_p50_ms": percentiles(both)["p50_ms"],
                "all_mean_ms": percentiles(both)["mean_ms"],
                "judge_calls": cache.stats().get("judge_calls", 0),
            }
        )
        cache.close()
    judge = judge_module.shared()
    calls = []
    for _, a, b in pairs[:200]:
        started = time.perf_counter()
        judge.logit(b, a)
        calls.append(time.perf_counter() - started)
    return {"pairs": len(pairs), "rows": rows, "judge_p50_ms": percentiles(calls)["p50_ms"]}


def plot_curves(
    curves: dict[str, list[tuple[float, float, float]]], real: dict[str, dict[str, Any]]
) -> Path:
    """Precision against duplicate hit rate, one line per mode over the threshold sweep, the
    shipped configurations as points: benchmarks/results/quality_curves.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, points in curves.items():
        ax.plot([p[1] for p in points], [p[2] for p in points], label=label)
    for label, row in real.items():
        ax.plot(row["hit_rate_dup"], row["precision"], "k*", markersize=10)
        ax.annotate(label.split(" (")[0], (row["hit_rate_dup"], row["precision"]), fontsize=7)
    ax.axhline(0.90, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("hit rate on duplicates (QQP dev, report half)")
    ax.set_ylabel("precision of hits")
    ax.set_ylim(0.6, 1.0)
    ax.set_xlim(0.0, 0.9)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("QQP report half; stars: shipped configurations", fontsize=10)
    fig.tight_layout()
    out = Path(__file__).resolve().parent / "results" / "quality_curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


if __name__ == "__main__":
    main()
