"""The verifier: cheap evidence that a semantic neighbour asks the same question as the query.

Cosine similarity of sentence embeddings cannot tell "lose 5 kg" from "lose 10 kg", "CEO vs CFO"
from "CEO vs CTO" or "why" from "how". The verifier takes deterministic features of both texts
(`features.py`: numbers, years, capitalized names, negation, comparison targets, question type,
token overlap, length ratio, the vetoes, ...), combines them with the cosine similarity in a
logistic regression whose weights ship as JSON, and accepts the neighbour when the probability
reaches a cut-off.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConfigurationError
from . import judge as judge_module
from .features import FEATURE_NAMES, extract_features
from .near_repeat import FLOOR as NEAR_REPEAT_FLOOR
from .near_repeat import near_repeat

logger = logging.getLogger(__name__)
WEIGHTS_FILE = "verifier_weights.json"
JUDGED_WEIGHTS_FILE = "verifier_judge_weights.json"
"""Weights fitted with the judge's logit as one more feature (`VerifierWeights.judge`)."""
WEIGHTS_FORMAT = 1


@dataclass(frozen=True)
class VerifierWeights:
    """A fitted logistic regression: weights by feature name, a bias and the default cut-off."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    cutoff: float
    threshold: float | None = None
    """The similarity threshold the cut-off was chosen together with."""
    floor: float = 0.0
    """The weights were fitted on candidates at least this similar: below it they guess."""
    vetoes: tuple[str, ...] = ()
    """Binary features that reject a candidate outright (by policy, not fitted): a cache must
    not answer "lose 5 kg" with the answer to "lose 10 kg", however the labels of the data
    the weights were fitted on treat such pairs."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    judge: float = 0.0
    """Weight of the judge's (clipped) logit; 0.0: the judge is not used."""
    judge_version: str | None = None
    """The judge these weights were fitted with (they are meaningless with another)."""

    def __post_init__(self) -> None:
        unknown = [f for f in (*self.features, *self.vetoes) if f not in FEATURE_NAMES]
        if unknown:
            raise ConfigurationError(
                f"verifier weights name unknown feature(s) {unknown}; known: {FEATURE_NAMES}"
            )
        if len(self.weights) != len(self.features):
            raise ConfigurationError("verifier weights: one weight per feature is required")
        if not all(math.isfinite(w) for w in (*self.weights, self.bias, self.judge)):
            raise ConfigurationError("verifier weights must be finite numbers")
        if not 0.0 <= self.cutoff <= 1.0:
            raise ConfigurationError(f"verifier cutoff {self.cutoff!r}: must be in [0, 1]")

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": WEIGHTS_FORMAT,
                "model": "logistic_regression",
                "features": list(self.features),
                "weights": [round(w, 6) for w in self.weights],
                "bias": round(self.bias, 6),
                "cutoff": self.cutoff,
                "threshold": self.threshold,
                "floor": self.floor,
                "vetoes": list(self.vetoes),
                "judge": round(self.judge, 6),
                "judge_version": self.judge_version,
                "meta": dict(self.meta),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> VerifierWeights:
        """Parse weights JSON (the only format: weights are data, never pickled code)."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError(f"verifier weights are not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
            raise ConfigurationError(f"verifier weights: expected format {WEIGHTS_FORMAT}")
        try:
            return cls(
                features=tuple(str(f) for f in data["features"]),
                weights=tuple(float(w) for w in data["weights"]),
                bias=float(data["bias"]),
                cutoff=float(data["cutoff"]),
                threshold=None if data.get("threshold") is None else float(data["threshold"]),
                floor=float(data.get("floor", 0.0)),
                vetoes=tuple(str(f) for f in data.get("vetoes") or ()),
                meta=dict(data.get("meta") or {}),
                judge=float(data.get("judge") or 0.0),
                judge_version=data.get("judge_version"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"verifier weights: malformed ({exc!r})") from exc

    @classmethod
    def load(cls, path: str | Path | None = None, judge: bool = False) -> VerifierWeights:
        """Weights from `path`, or the ones shipped in the package (fitted with the judge when
        `judge`)."""
        if path is not None:
            return cls.from_json(Path(path).read_text())
        return _shipped_weights(JUDGED_WEIGHTS_FILE if judge else WEIGHTS_FILE)


@functools.lru_cache(maxsize=2)
def _shipped_weights(name: str) -> VerifierWeights:
    raw = resources.files("tiered_cache.rules").joinpath(name).read_text()
    return VerifierWeights.from_json(raw)


class Verifier:
    """Scores a (query, stored question, cosine) triple; accepts when the score reaches the cut-off.

    The features are pure CPU, no model: a few regexes and a dot product per candidate, about
    0.1-0.2 ms for texts it has not seen before (parses are memoized: a query meets up to
    `candidates` stored questions, and popular stored questions come back). With weights fitted
    with the judge (the default), the judge's logit is one more term; `accepts` only runs the
    judge (a few ms) when its term, however large within its clipped range, could change the
    decision: the same answers as always running it, at a fraction of the cost.
    """

    def __init__(
        self,
        weights: VerifierWeights | None = None,
        cutoff: float | None = None,
        judge: bool = True,
    ):
        self.weights = weights or VerifierWeights.load(judge=judge and judge_shipped())
        self.cutoff = self.weights.cutoff if cutoff is None else cutoff
        self._judge_range = (0.0, 0.0)
        if self.weights.judge:
            meta = judge_module.card()
            if meta["version"] != self.weights.judge_version:
                raise ConfigurationError(
                    f"verifier weights were fitted with judge {self.weights.judge_version!r}, "
                    f"the installed judge is {meta['version']!r}"
                )
            ends = [self.weights.judge * float(b) for b in meta["logit_range"]]
            self._judge_range = (min(ends), max(ends))
            judge_module.start_loading()

    @property
    def judged(self) -> bool:
        """Whether these weights use the judge."""
        return bool(self.weights.judge)

    def _base(self, feats: Mapping[str, float]) -> float | None:
        """The log-odds without the judge's term; None when a veto fires."""
        if any(feats[name] > 0 for name in self.weights.vetoes):
            return None
        return self.weights.bias + sum(
            w * feats[name]
            for name, w in zip(self.weights.features, self.weights.weights, strict=True)
        )

    def near_repeat(self, query: str, candidate: str, similarity: float = 1.0) -> bool:
        """The same question retyped (near_repeat.py), at least NEAR_REPEAT_FLOOR similar, and
        no veto: a hit at any score and any threshold."""
        if similarity < NEAR_REPEAT_FLOOR or not near_repeat(query, candidate):
            return False
        return self._base(extract_features(query, candidate, similarity)) is not None

    def score(self, query: str, candidate: str, similarity: float) -> float:
        """Probability that the two questions are duplicates (0.0 when a veto fires)."""
        z = self._base(extract_features(query, candidate, similarity))
        if z is None:
            return 0.0
        if self.judged:
            z += self.judge_term(query, candidate)
        return _sigmoid(z)

    def prejudge(
        self, query: str, candidate: str, similarity: float, cutoff: float | None = None
    ) -> tuple[bool | None, float]:
        """(the decision, or None when only the judge can settle it; the log-odds without the
        judge's term). The judge is needed only when its term, anywhere in its clipped range,
        could move the score across the cut-off."""
        cut = self.cutoff if cutoff is None else cutoff
        z = self._base(extract_features(query, candidate, similarity))
        if z is None:
            return False, -math.inf
        if near_repeat(query, candidate):
            return True, z
        low, high = self._judge_range
        if _sigmoid(z + high) < cut:
            return False, z
        if _sigmoid(z + low) >= cut:
            return True, z
        return None, z

    def conclude(self, z: float, judge_term: float, cutoff: float | None = None) -> bool:
        """The decision once the judge's term is known (`prejudge` gave None)."""
        return _sigmoid(z + judge_term) >= (self.cutoff if cutoff is None else cutoff)

    def judge_term(self, query: str, candidate: str) -> float:
        """The judge's weighted logit; its least favourable value when the judge cannot run
        (logged once): a broken judge can only turn hits into misses. A few ms of CPU."""
        try:
            return self.weights.judge * judge_module.shared().bounded_logit(query, candidate)
        except Exception as exc:  # degrade to the safe side: never fail a lookup
            if not _judge_failed.is_set():
                _judge_failed.set()
                logger.error("tiered-cache: the duplicate judge cannot run (%s): misses", exc)
            return self._judge_range[0]

    def decide(
        self, query: str, candidate: str, similarity: float, cutoff: float | None = None
    ) -> tuple[bool, bool]:
        """(accepted, whether the judge had to be asked)."""
        verdict, z = self.prejudge(query, candidate, similarity, cutoff)
        if verdict is not None:
            return verdict, False
        return self.conclude(z, self.judge_term(query, candidate), cutoff), True

    def accepts(
        self, query: str, candidate: str, similarity: float, cutoff: float | None = None
    ) -> bool:
        return self.decide(query, candidate, similarity, cutoff)[0]

    def explain(self, query: str, candidate: str, similarity: float) -> dict[str, float]:
        """Each feature's contribution to the log-odds (for debugging a decision)."""
        feats = extract_features(query, candidate, similarity)
        pairs = zip(self.weights.features, self.weights.weights, strict=True)
        out = {n: w * feats[n] for n, w in pairs}
        out["bias"] = self.weights.bias
        if self.judged:
            out["judge"] = self.judge_term(query, candidate)
        for name in self.weights.vetoes:
            if feats[name] > 0:
                out[f"veto:{name}"] = -math.inf
        if near_repeat(query, candidate) and not any(k.startswith("veto:") for k in out):
            out["rule:near_repeat"] = math.inf
        return out


_judge_failed = threading.Event()


def judge_shipped() -> bool:
    """Whether the package holds verifier weights fitted with the judge."""
    return resources.files("tiered_cache.rules").joinpath(JUDGED_WEIGHTS_FILE).is_file()


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def feature_matrix(
    triples: Iterable[tuple[str, str, float]], features: Sequence[str] = FEATURE_NAMES
) -> npt.NDArray[np.float64]:
    rows = [extract_features(a, b, s) for a, b, s in triples]
    return np.array([[r[f] for f in features] for r in rows], dtype=np.float64).reshape(
        len(rows), len(features)
    )


def fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], l2: float = 1.0, iterations: int = 50
) -> tuple[npt.NDArray[np.float64], float]:
    """L2-regularized logistic regression by Newton's method on standardized features.

    Returns (weights, bias) for the raw (unstandardized) features.
    """
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -50, 50)))
        grad = z.T @ (p - y) + penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    weights = beta[:-1] / std
    bias = float(beta[-1] - np.sum(beta[:-1] * mean / std))
    return weights, bias
