"""Every duplicate-detection method tried for the semantic tier, on one figure and one table.

    python -m benchmarks.methods [--embeddings-cache /tmp/qemb.npz] [--judge-l3 DIR]

The QQP dev file is split as in `benchmarks.quality` (a hash of the pair: "fit" and "report"
halves). A method that has settings or weights gets them from the fit half; every figure is
measured on the report half. For each method the table gives:

- `best hit rate @ precision >= 0.90`: the highest duplicate hit rate of any cut-off on the
  report half whose precision reaches 0.90 (the frontier: an upper bound on what choosing
  settings can give, since it looks at the report half);
- `chosen on fit`: the threshold and cut-off chosen on the fit half for precision 0.90 (at 80%
  confidence, as the shipped default is chosen), then measured on the report half;
- `2-fold on fit`: the same choice made on one half of the fit split and measured on the other,
  both ways (how well the choice carries over, without looking at the report half).

The methods: MiniLM cosine; the LoRA bi-encoder of `training.train_duplicates` (its curve as
that run measured it, from benchmarks/results/training.json, when present); the verifier's
features (shipped weights); the judge alone (6 layers; 3 layers with `--judge-l3`, a directory
`python -m training.train_judge --layers 3 --out DIR` wrote); the judge reading both orders of
the pair (the mean of the two logits); and the verifier's features with the judge (the shipped
default) or with both orders. Writes benchmarks/results/methods.json and methods.png.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tiered_cache.normalize import Normalizer
from tiered_cache.rules import judge as judge_module
from tiered_cache.rules.calibration import THRESHOLDS, ScoredPairs, choose
from tiered_cache.rules.features import FEATURE_NAMES
from tiered_cache.rules.verifier import VerifierWeights, feature_matrix, fit_logistic

from ._common import RESULTS, load_paraphrases, load_qqp, print_table, write_json
from .quality import (
    FIT_FLOOR,
    FIT_TARGET,
    JUDGED_CONFIDENCE,
    JUDGED_L2,
    VETOES,
    MemoEmbedder,
    split_of,
)

Array = npt.NDArray[np.float64]
CUTS = np.round(np.arange(0.0, 1.0001, 0.005), 3)


class Pairs:
    """Labelled pairs, their cosine, features and vetoes (`b` is the query, `a` the stored
    question, as in the quality benchmark)."""

    def __init__(self, embedder: MemoEmbedder, rows: Sequence[tuple[str, str, bool]]) -> None:
        norm = Normalizer()
        self.pairs = [(norm(a), norm(b)) for a, b, _ in rows]
        self.y = np.array([d for _, _, d in rows], dtype=bool)
        self.exact = np.array([a == b for a, b in self.pairs])
        texts = list(dict.fromkeys(t for pair in self.pairs for t in pair))
        vectors = dict(zip(texts, embedder.encode(texts), strict=True))
        self.sims = np.array([float(vectors[a] @ vectors[b]) for a, b in self.pairs])
        self.x = feature_matrix(
            [(b, a, s) for (a, b), s in zip(self.pairs, self.sims, strict=True)]
        )
        self.vetoed = np.zeros(len(rows), dtype=bool)
        for name in VETOES:
            self.vetoed |= self.x[:, FEATURE_NAMES.index(name)] > 0
        self.judged = (self.sims >= FIT_FLOOR) & ~self.vetoed  # where a judge is ever asked

    def logits(self, logit: Callable[[str, str], float]) -> Array:
        """A judge's logit where it would be asked (0.0 elsewhere)."""
        out = np.zeros(len(self.pairs))
        for i in np.flatnonzero(self.judged):
            a, b = self.pairs[i]
            out[i] = logit(b, a)
        return out


class Judged:
    """A judge's clipped logits on both pair sets, reading the pair one way or both ways."""

    def __init__(self, judge: judge_module.Judge, sets: Sequence[Pairs]) -> None:
        low, high = judge.logit_range
        self.forward = [np.clip(p.logits(judge.logit), low, high) for p in sets]
        backward = [np.clip(p.logits(lambda q, c: judge.logit(c, q)), low, high) for p in sets]
        self.both = [(f + b) / 2 for f, b in zip(self.forward, backward, strict=True)]


def _design(p: Pairs, judge: Array | None) -> Array:
    cols = [i for i, name in enumerate(FEATURE_NAMES) if name not in VETOES]
    design = p.x[:, cols]
    return design if judge is None else np.hstack([design, judge[:, None]])


def stacked(
    qqp: Pairs, fit: npt.NDArray[np.bool_], judge: Sequence[Array] | None, sets: Sequence[Pairs]
) -> list[Array]:
    """The verifier's score on each set: logistic regression on the features (and the judge's
    logit), fitted on the fit half's candidates; 0 where a veto fires."""
    train = fit & qqp.judged
    design = _design(qqp, None if judge is None else judge[0])
    weights, bias = fit_logistic(design[train], qqp.y[train].astype(np.float64), l2=JUDGED_L2)
    out = []
    for i, p in enumerate(sets):
        z = _design(p, None if judge is None else judge[i]) @ weights + bias
        out.append(np.where(p.vetoed, 0.0, 1.0 / (1.0 + np.exp(-z))))
    return out


def shipped_features(p: Pairs) -> Array:
    """The shipped features-only weights (`judge=False`)."""
    w = VerifierWeights.load(judge=False)
    cols = [FEATURE_NAMES.index(name) for name in w.features]
    z = p.x[:, cols] @ np.array(w.weights) + w.bias
    return np.where(p.vetoed, 0.0, 1.0 / (1.0 + np.exp(-z)))


def judge_alone(p: Pairs, logits: Array) -> Array:
    """A judge on its own: its logit squashed, vetoes applied (a score in [0, 1])."""
    return np.where(p.vetoed, 0.0, 1.0 / (1.0 + np.exp(-logits)))


def _rates(hit: npt.NDArray[np.bool_], dup: npt.NDArray[np.bool_]) -> tuple[float, float]:
    tp = int(np.count_nonzero(hit & dup))
    fp = int(np.count_nonzero(hit & ~dup))
    return tp / max(int(dup.sum()), 1), (tp / (tp + fp) if tp + fp else 1.0)


def curve(p: Pairs, score: Array | None, mask: npt.NDArray[np.bool_]) -> list[list[float]]:
    """(cut, hit rate, precision) on `mask`: over the score's cut-offs for candidates from the
    verifier's floor up, or over the cosine threshold for plain cosine (`score` None)."""
    sims, y, exact = p.sims[mask], p.y[mask], p.exact[mask]
    out = []
    if score is None:
        for t in CUTS[CUTS >= 0.6]:
            out.append([float(t), *_rates(exact | (sims >= t), y)])
        return out
    s = score[mask]
    for c in CUTS:
        out.append([float(c), *_rates(exact | ((sims >= FIT_FLOOR) & (s >= c)), y)])
    return out


def frontier(points: Sequence[Sequence[float]], target: float = FIT_TARGET) -> dict[str, Any]:
    """The point of highest hit rate whose precision reaches `target` (points under a 3% hit
    rate, about 45 hits, are too few to trust and ignored)."""
    ok = [p for p in points if p[2] >= target and p[1] >= 0.03]
    if not ok:
        return {"hit_rate_dup": None, "precision": None, "cut": None}
    best = max(ok, key=lambda p: p[1])
    return {"cut": best[0], "hit_rate_dup": round(best[1], 4), "precision": round(best[2], 4)}


def setting(p: Pairs, score: Array | None, on: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(threshold, cut-off) chosen on the pairs `on` for precision 0.90 at 80% confidence."""
    grid = [t for t in THRESHOLDS if t >= FIT_FLOOR]
    s = np.ones(len(p.sims)) if score is None else score
    pick = choose(
        ScoredPairs(p.sims[on], s[on], p.y[on], p.exact[on]),
        FIT_TARGET,
        use_verifier=score is not None,
        min_hits=25,
        thresholds=grid,
        confidence=JUDGED_CONFIDENCE,
    )
    return pick.threshold, (pick.verifier_cutoff or 0.0) if score is not None else 0.0


def hits(p: Pairs, score: Array | None, chosen: tuple[float, float]) -> npt.NDArray[np.bool_]:
    s = np.ones(len(p.sims)) if score is None else score
    return p.exact | ((p.sims >= chosen[0]) & (s >= chosen[1]))


def counts(
    p: Pairs, hit: npt.NDArray[np.bool_], mask: npt.NDArray[np.bool_]
) -> tuple[int, int, int]:
    y = p.y[mask]
    return int((hit[mask] & y).sum()), int((hit[mask] & ~y).sum()), int(y.sum())


def evaluate(
    qqp: Pairs,
    fit: npt.NDArray[np.bool_],
    score: Array | None,
    mock: Pairs,
    mock_score: Array | None,
) -> dict[str, Any]:
    report = ~fit
    points = curve(qqp, score, report)
    chosen = setting(qqp, score, fit)
    tp, fp, n = counts(qqp, hits(qqp, score, chosen), report)
    fold = np.random.default_rng(0).random(len(qqp.sims)) < 0.5
    cv = [
        counts(qqp, hits(qqp, score, setting(qqp, score, fit & f)), fit & ~f) for f in (fold, ~fold)
    ]
    ctp, cfp, cn = (sum(v) for v in zip(*cv, strict=True))
    return {
        "curve": points,
        "frontier": frontier(points),
        "chosen_on_fit": {
            "threshold": chosen[0],
            "cutoff": chosen[1],
            "hit_rate_dup": tp / n,
            "precision": tp / max(tp + fp, 1),
            "paraphrase_hit_rate": float(hits(mock, mock_score, chosen).mean()),
        },
        "two_fold_on_fit": {"hit_rate_dup": ctp / cn, "precision": ctp / max(ctp + cfp, 1)},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embeddings-cache", default=None, help="keep embeddings in this .npz")
    parser.add_argument("--judge-l3", default=None, help="a 3-layer judge's directory")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    embedder = MemoEmbedder(args.embeddings_cache)
    rows = load_qqp()
    qqp = Pairs(embedder, [(r["a"], r["b"], bool(r["duplicate"])) for r in rows])
    fit = np.array([split_of(r["a"], r["b"]) == "fit" for r in rows])
    mock = Pairs(embedder, [(p["origin"], p["similar"], True) for p in load_paraphrases()])
    embedder.save()
    sets = (qqp, mock)
    six = Judged(judge_module.shared(), sets)
    scores: dict[str, Sequence[Array | None]] = {"MiniLM cosine": (None, None)}
    scores["features (judge=False, shipped)"] = [shipped_features(p) for p in sets]
    if args.judge_l3:
        three = judge_module.load(Path(args.judge_l3))
        scores["judge alone, 3 layers"] = [judge_alone(p, p.logits(three.logit)) for p in sets]
    scores["judge alone, 6 layers"] = [
        judge_alone(p, j) for p, j in zip(sets, six.forward, strict=True)
    ]
    scores["judge alone, 6 layers, both orders"] = [
        judge_alone(p, j) for p, j in zip(sets, six.both, strict=True)
    ]
    scores["features + judge (DEFAULT)"] = stacked(qqp, fit, six.forward, sets)
    scores["features + judge, both orders"] = stacked(qqp, fit, six.both, sets)
    results = {name: evaluate(qqp, fit, score[0], mock, score[1]) for name, score in scores.items()}

    bi_encoder = RESULTS / "training.json"
    if bi_encoder.is_file():
        run = json.loads(bi_encoder.read_text())
        points = [list(p) for p in run["curves"]["adapted"]]
        results["LoRA bi-encoder cosine (training.json)"] = {
            "curve": points,
            "frontier": frontier(points),
            "chosen_on_fit": {
                **run["adapted"]["report"],
                "paraphrase_hit_rate": run["adapted"]["paraphrase_hit_rate"],
            },
            "two_fold_on_fit": None,
        }

    table = []
    for name, r in results.items():
        cv = r["two_fold_on_fit"] or {}
        table.append(
            {
                "method": name,
                "best_hit_rate_at_0.90": r["frontier"]["hit_rate_dup"],
                "its_precision": r["frontier"]["precision"],
                "chosen_on_fit_hit_rate": r["chosen_on_fit"]["hit_rate_dup"],
                "chosen_on_fit_precision": r["chosen_on_fit"]["precision"],
                "paraphrase_mock": r["chosen_on_fit"]["paraphrase_hit_rate"],
                "two_fold_hit_rate": cv.get("hit_rate_dup"),
                "two_fold_precision": cv.get("precision"),
            }
        )
    print_table(
        "Methods on the QQP dev report half (best: any cut-off; chosen: settings from the fit "
        "half; paraphrase mock at the chosen setting)",
        table,
        list(table[0]),
    )
    png = plot(results)
    path = write_json(
        "methods",
        {
            "split": "sha256(a + '\\x1f' + b)[0]: even -> fit, odd -> report",
            "target_precision": FIT_TARGET,
            "chosen_at_confidence": JUDGED_CONFIDENCE,
            "seconds": round(time.perf_counter() - started, 1),
            "methods": results,
        },
    )
    print(f"wrote {path} and {png}")


def plot(results: dict[str, dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, r in results.items():
        points = [p for p in r["curve"] if p[1] > 0.02]
        ax.plot([p[1] for p in points], [p[2] for p in points], label=name, linewidth=1.2)
    ax.axhline(FIT_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.axvline(0.40, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("hit rate on duplicates (QQP dev, report half)")
    ax.set_ylabel("precision of hits")
    ax.set_xlim(0.0, 0.8)
    ax.set_ylim(0.7, 1.0)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(
        "Every method tried; dotted: the target (precision 0.90 at hit rate 0.40)", fontsize=9
    )
    fig.tight_layout()
    out = RESULTS / "methods.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


if __name__ == "__main__":
    main()
