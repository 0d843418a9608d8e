"""Calibration, the rule: choose the similarity threshold (and verifier cut-off) from labelled
pairs. The command (`tiered-cache calibrate`), reading pair files and plotting the curve are the
tool `tools/calibrate.py`, which sits above the public API.

Why the choice is here and not in the tool: `TieredCache.calibrate(...)` is public API, and the
facade may not import `tools/` (a lower layer never imports the layer above it: the architecture
test). So the math lives with the threshold rule it tunes, and reads the cache only through the
small `Scorer` protocol (its normalizer, embeddings and verifier): no import of the facade, no
circle. The facade's glue is one call and the `apply` step.

Each pair is a question a user asked, a stored question, and whether one answer serves both.
Scoring is done as the cache does it: the cache's normalizer, its embedder (each text embedded
once, in batches) and its verifier. The chosen setting is the one with the highest hit rate on
duplicates whose precision reaches the target *with confidence*: the lower bound of a one-sided
Wilson interval (95% by default) must reach it, so that a setting picked from hundreds on one
sample still holds on the next. Few pairs cannot vouch for a high target: then the result says
the target is unreachable on these pairs, and the most precise setting is chosen instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..embeddings.embedder import EmbeddingService
    from .verifier import Verifier

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
THRESHOLDS = np.round(np.arange(0.50, 0.9951, 0.005), 4)
CUTOFFS = np.round(np.arange(0.02, 0.9901, 0.01), 4)
CURVE = np.round(np.arange(0.50, 0.9951, 0.01), 4)


class Scorer(Protocol):
    """What calibration reads of a cache (a `TieredCache` is one)."""

    @property
    def normalizer(self) -> Callable[[str], str]: ...
    @property
    def embeddings(self) -> EmbeddingService | None: ...
    @property
    def verifier(self) -> Verifier | None: ...


@dataclass(frozen=True)
class CurvePoint:
    """Quality at one threshold: cosine alone, and with the verifier at the chosen cut-off."""

    threshold: float
    hit_rate: float
    false_hit_rate: float
    precision: float
    verified_hit_rate: float | None = None
    verified_false_hit_rate: float | None = None
    verified_precision: float | None = None


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen threshold and cut-off, what they are expected to give, and the whole curve."""

    threshold: float
    verifier_cutoff: float | None
    target_precision: float
    reached: bool
    """False when no setting reaches the target: the most precise one was chosen instead."""
    precision: float
    precision_lower_bound: float
    """The one-sided lower confidence bound of `precision` (what `reached` is judged on)."""
    confidence: float
    hit_rate: float
    false_hit_rate: float
    pairs: int
    duplicates: int
    curve: tuple[CurvePoint, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        cutoff = "off" if self.verifier_cutoff is None else f"{self.verifier_cutoff:.2f}"
        verdict = (
            "reached"
            if self.reached
            else f"NOT reached: unreachable on these {self.pairs} pairs at "
            f"{self.confidence:.0%} confidence, the most precise setting was chosen"
        )
        return (
            f"threshold {self.threshold:.3f}, verifier cut-off {cutoff}: precision "
            f"{self.precision:.3f}, at least {self.precision_lower_bound:.3f} at "
            f"{self.confidence:.0%} confidence (target {self.target_precision:.2f} {verdict}), "
            f"hit rate on duplicates {self.hit_rate:.3f}, false-hit rate {self.false_hit_rate:.3f} "
            f"({self.pairs} pairs, {self.duplicates} duplicates)"
        )


@dataclass(frozen=True)
class ScoredPairs:
    """What the cache would see for each pair: cosine, verifier score, label, exact repeat."""

    similarity: FloatArray
    score: FloatArray
    duplicate: BoolArray
    exact: BoolArray


def _rates(hit: BoolArray, dup: BoolArray) -> tuple[float, float, float, int]:
    tp = int(np.count_nonzero(hit & dup))
    fp = int(np.count_nonzero(hit & ~dup))
    n_dup = int(np.count_nonzero(dup))
    n_non = len(dup) - n_dup
    return (
        tp / n_dup if n_dup else 0.0,
        fp / n_non if n_non else 0.0,
        tp / (tp + fp) if tp + fp else 1.0,
        tp + fp,
    )


def precision_lower_bound(true_hits: int, hits: int, confidence: float) -> float:
    """One-sided Wilson lower bound of the precision true_hits / hits (0.0 without hits)."""
    if hits <= 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence) if confidence > 0.5 else 0.0
    p = true_hits / hits
    spread = z * math.sqrt(p * (1 - p) / hits + z * z / (4 * hits * hits))
    return (p + z * z / (2 * hits) - spread) / (1 + z * z / hits)


def score_pairs(
    cache: Scorer, pairs: Iterable[tuple[str, str, bool]], verifier: Verifier | None = None
) -> ScoredPairs:
    """Normalize, embed (one batch, memoized) and verify every pair as the cache would."""
    if cache.embeddings is None:
        raise ValueError("calibration needs the semantic tier (semantic=True)")
    rows = [(cache.normalizer(str(a)), cache.normalizer(str(b)), bool(d)) for a, b, d in pairs]
    if not rows:
        raise ValueError("calibration needs at least one labelled pair")
    texts = list(dict.fromkeys(t for a, b, _ in rows for t in (a, b)))
    vectors = dict(zip(texts, cache.embeddings.embed_many(texts), strict=True))
    sims = np.array([float(vectors[a] @ vectors[b]) for a, b, _ in rows])
    verifier = verifier if verifier is not None else cache.verifier
    scores = np.array(
        [
            verifier.score(b, a, s) if verifier else 1.0
            for (a, b, _), s in zip(rows, sims, strict=True)
        ]
    )
    return ScoredPairs(
        similarity=sims,
        score=scores,
        duplicate=np.array([d for _, _, d in rows], dtype=bool),
        exact=np.array([a == b for a, b, _ in rows], dtype=bool),
    )


def choose(
    scored: ScoredPairs,
    target_precision: float = 0.95,
    *,
    use_verifier: bool = True,
    min_hits: int = 5,
    confidence: float = 0.95,
    tolerance: float = 0.0,
    thresholds: Sequence[float] = tuple(THRESHOLDS),
    cutoffs: Sequence[float] = tuple(CUTOFFS),
) -> CalibrationResult:
    """The (threshold, cut-off) with the highest duplicate hit rate whose precision reaches
    the target at `confidence` (one-sided Wilson lower bound; 0.5 judges the point estimate).

    Among settings within `tolerance` of that hit rate the lowest threshold wins: the
    threshold is a cheap pre-filter, the verifier the judge. Settings with fewer than
    `min_hits` hits are not trusted. Exact repeats hit whatever the setting (the exact tier).
    """
    dup, exact = scored.duplicate, scored.exact
    grid = list(cutoffs) if use_verifier else [0.0]
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence={confidence!r}: must be in [0.5, 1)")
    feasible: list[tuple[float, float, float, float]] = []  # (hit rate, bound, t, c)
    fallback: tuple[float, float, float, float] | None = None
    for t in thresholds:
        above = scored.similarity >= t
        for c in grid:
            hit = exact | (above & (scored.score >= c))
            hit_rate, _, precision, n = _rates(hit, dup)
            if n < min_hits:
                continue
            bound = precision_lower_bound(round(precision * n), n, confidence)
            key = (hit_rate, bound, float(t), float(c))
            if bound >= target_precision:
                feasible.append(key)
            if fallback is None or (bound, hit_rate) > (fallback[1], fallback[0]):
                fallback = key
    best = None
    if feasible:
        top = max(f[0] for f in feasible)
        near = [f for f in feasible if f[0] >= top - tolerance]
        lowest = min(f[2] for f in near)
        best = max((f for f in near if f[2] == lowest), key=lambda f: (f[0], f[1]))
    chosen = best or fallback or (0.0, 0.0, float(max(thresholds)), float(max(grid)))
    threshold, cutoff = float(chosen[2]), float(chosen[3])
    hit = exact | ((scored.similarity >= threshold) & (scored.score >= cutoff))
    hit_rate, false_rate, precision, n_hits = _rates(hit, dup)
    curve = []
    for t in CURVE:
        above = exact | (scored.similarity >= t)
        plain = _rates(above, dup)
        verified = _rates(above & (exact | (scored.score >= cutoff)), dup) if use_verifier else None
        curve.append(
            CurvePoint(
                threshold=float(t),
                hit_rate=plain[0],
                false_hit_rate=plain[1],
                precision=plain[2],
                verified_hit_rate=verified[0] if verified else None,
                verified_false_hit_rate=verified[1] if verified else None,
                verified_precision=verified[2] if verified else None,
            )
        )
    return CalibrationResult(
        threshold=round(threshold, 4),
        verifier_cutoff=round(cutoff, 4) if use_verifier else None,
        target_precision=target_precision,
        reached=best is not None,
        precision=precision,
        precision_lower_bound=precision_lower_bound(round(precision * n_hits), n_hits, confidence),
        confidence=confidence,
        hit_rate=hit_rate,
        false_hit_rate=false_rate,
        pairs=len(dup),
        duplicates=int(np.count_nonzero(dup)),
        curve=tuple(curve),
    )


def calibrate_cache(
    cache: Scorer,
    pairs: Iterable[tuple[str, str, bool]],
    target_precision: float = 0.95,
    confidence: float = 0.95,
) -> CalibrationResult:
    """Score `pairs` through `cache` and choose its threshold (and cut-off if it verifies)."""
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target_precision={target_precision!r}: must be in (0, 1]")
    scored = score_pairs(cache, pairs)
    if cache.verifier is None:
        return choose(scored, target_precision, use_verifier=False, confidence=confidence)
    floor = cache.verifier.weights.floor  # below it the verifier was never fitted: no lower
    grid = tuple(t for t in THRESHOLDS if t >= floor - 1e-9) or (float(THRESHOLDS[-1]),)
    return choose(scored, target_precision, thresholds=grid, confidence=confidence)
