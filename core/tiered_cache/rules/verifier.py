"""The verifier: cheap evidence that a semantic neighbour asks the same question as the query.

Cosine similarity of sentence embeddings cannot tell "lose 5 kg" from "lose 10 kg", "CEO vs CFO"
from "CEO vs CTO" or "why" from "how". The verifier extracts deterministic features from both
texts (numbers, years, capitalized names, negation, comparison targets, question type, token
overlap, length ratio, ...), combines them with the cosine similarity in a logistic regression
whose weights ship as JSON, and accepts the neighbour when the probability reaches a cut-off.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import math
import re
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
from . import operators
from .contrast import contrast_mismatch
from .near_repeat import FLOOR as NEAR_REPEAT_FLOOR
from .near_repeat import near_repeat
from .roles import reversed_roles, roles

logger = logging.getLogger(__name__)
WEIGHTS_FILE = "verifier_weights.json"
JUDGED_WEIGHTS_FILE = "verifier_judge_weights.json"
"""Weights fitted with the judge's logit as one more feature (`VerifierWeights.judge`)."""
WEIGHTS_FORMAT = 1

_APOSTROPHE = "\u2019"  # typographic apostrophe, folded to "'"
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_NUMBER = re.compile(r"(?<![\w.])[$€£]?\d+(?:[.,]\d+)*(?:\s?(?:k|m|bn|%))?(?![\w])", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_VERSUS = re.compile(r"\b(?:vs\.?|versus|v/s)\s", re.IGNORECASE)
_BETWEEN = re.compile(
    r"\b(?:differences?|compare|comparison) (?:between|of) (.+?) (?:and|&) (.+?)(?:[?.!,]|$)",
    re.IGNORECASE,
)
_OR_CHOICE = re.compile(
    r"\b(?:better|prefer|choose|best),? (.+?) or (.+?)(?:[?.!,]|$)", re.IGNORECASE
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# "one" is left out: "one month" is "a month", and "how does one..." is a pronoun.
_NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "fifty": "50", "hundred": "100",
    "thousand": "1000", "million": "1000000", "billion": "1000000000",
}  # fmt: skip
_NEGATIONS = _words(
    "not no never none nobody nothing nowhere neither nor without cannot can't won't don't "
    "doesn't didn't isn't aren't wasn't weren't shouldn't wouldn't couldn't hasn't haven't "
    "hadn't mustn't"
)
_QUESTION_WORDS = ("what", "how", "why", "who", "whom", "whose", "when", "where", "which")
_AUXILIARIES = _words(
    "can could should would will shall is are was were do does did may might must has have had am"
)
_POLAR = {
    "best": "good", "good": "good", "better": "good", "advantages": "good", "pros": "good",
    "benefits": "good", "positive": "good", "easiest": "good", "cheapest": "cheap",
    "worst": "bad", "bad": "bad", "worse": "bad", "disadvantages": "bad", "cons": "bad",
    "drawbacks": "bad", "negative": "bad", "hardest": "hard", "expensive": "costly",
    "costliest": "costly", "cheap": "cheap", "easy": "good", "hard": "hard", "difficult": "hard",
}  # fmt: skip
_STOPWORDS = _words(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else ever every few for from further get gets getting got had has have having he her here
    hers herself him himself his how i if in into is it its itself just let like me more most
    much my myself no nor not now of off on once only or other ought our ours ourselves out
    over own really same say says she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up upon us use used
    using very want was way ways we were what when where which while who whom whose why will
    with within without would you your yours yourself yourselves one ones thing things possible
    someone something anyone anything people person good best better quora"""
)
# A capitalized word at the start of a question is usually grammar, not a name.
_NOT_NAMES = _STOPWORDS | _AUXILIARIES | frozenset(_QUESTION_WORDS) | {"i", "im", "i'm", "i've"}

FEATURE_NAMES: tuple[str, ...] = (
    "cosine",
    "cosine_excess",
    "jaccard",
    "content_jaccard",
    "content_coverage_min",
    "unshared_content",
    "length_ratio",
    "number_mismatch",
    "number_one_sided",
    "year_mismatch",
    "entity_mismatch",
    "entity_one_sided",
    "negation_mismatch",
    "comparison_mismatch",
    "comparison_one_sided",
    "question_type_mismatch",
    "question_type_conflict",
    "polarity_mismatch",
    "exact_content_match",
    "unmatched_max",
    "unmatched_min",
    "bigram_jaccard",
    "entity_missing",
    "order_mismatch",
    "operand_order_mismatch",
    "contrast_mismatch",  # contrast.py: opposite words, a veto
    "role_reversal",  # roles.py: the reverse move in other words, a veto
)
_STRONG_TYPES = frozenset({"why", "when", "where", "who", "whom", "whose"}) | {
    f"how {w}" for w in ("many", "much", "long", "old", "often")
}


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A deliberately crude stemmer: plurals and possessives only (keeps it predictable)."""
    word = word.replace(_APOSTROPHE, "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _numbers(text: str, tokens: Sequence[str]) -> list[str]:
    out = []
    if _DIGIT.search(text):
        for raw in _NUMBER.findall(text):
            value = raw.lower().replace(" ", "").lstrip("$€£").replace(",", "")
            suffix = "bn" if value.endswith("bn") else value[-1]
            scale = {"k": 1e3, "m": 1e6, "bn": 1e9}.get(suffix)
            if scale is not None:
                with contextlib.suppress(ValueError):  # "1.2.3k": keep it as written
                    value = f"{float(value[: -len(suffix)]) * scale:g}"
            out.append(value)
    out.extend(_NUMBER_WORDS[t] for t in tokens if t in _NUMBER_WORDS)
    return sorted(out)


def _is_name(word: str, low: str, gap: str, first: bool) -> bool:
    """A capitalized token that looks like a name: not a function word, and a sentence's first
    word only when it carries more capitals or digits ("iPhone", "NASA", "PS4")."""
    if low == word or len(low) < 2 or low in _NOT_NAMES or _stem(low) in _NOT_NAMES:
        return False
    if first or any(c in ".?!:;\n" for c in gap):
        return any(c.isupper() or c.isdigit() for c in word[1:])
    return True


def _comparison(text: str, low: str) -> frozenset[str] | None:
    """The compared things of "X vs Y", "difference between X and Y", "better X or Y"."""
    if " vs" in low or "versus" in low or "v/s" in low:
        parts = _VERSUS.split(text)
        if len(parts) >= 2:
            left = _content(parts[0].split(",")[-1])[-2:]
            right = _content(parts[1])[:2]
            return frozenset(left + right)
    if "between" in low or "compar" in low or " of " in low:
        match = _BETWEEN.search(text)
        if match:
            return frozenset(_content(match.group(1)) + _content(match.group(2)))
    if " or " in low:
        match = _OR_CHOICE.search(text)
        if match:
            return frozenset(_content(match.group(1)) + _content(match.group(2)))
    return None


_TARGET_WORDS = frozenset({"to", "into"})
_REACH = 4  # how far from its connector an operand may stand, in tokens


def _operand(stems: Sequence[str], start: int, step: int) -> str | None:
    """The nearest content word from `start` walking by `step`, within reach."""
    for i in range(start, start + step * _REACH, step):
        if not 0 <= i < len(stems):
            return None
        if stems[i] not in _STOPWORDS and stems[i] not in _TARGET_WORDS:
            return stems[i]
    return None


def _directions(tokens: Sequence[str]) -> frozenset[tuple[str, str, str]]:
    """Ordered operands: ("to", source, target) of "X to Y" / "from X to Y", and ("than", A, B)
    of "A is faster than B". Reversing them reverses the question."""
    stems = [_stem(t) for t in tokens]
    out: set[tuple[str, str, str]] = set()
    source_after_from = _operand(stems, tokens.index("from") + 1, 1) if "from" in tokens else None
    for i, token in enumerate(tokens):
        if token in _TARGET_WORDS:
            source = source_after_from or _operand(stems, i - 1, -1)
            target = _operand(stems, i + 1, 1)
            if source and target and source != target:
                out.add(("to", source, target))
        elif token == "than":
            first = _operand(stems, i - 2, -1)  # skip the comparative itself
            second = _operand(stems, i + 1, 1)
            if first and second and first != second:
                out.add(("than", first, second))
    return frozenset(out)


def _reversed(a: frozenset[tuple[str, str, str]], b: frozenset[tuple[str, str, str]]) -> bool:
    """Whether one side has an operand pair that the other has only the other way round."""
    return any(
        (kind, y, x) in b and (kind, x, y) not in b and (kind, y, x) not in a for kind, x, y in a
    )


def _content(text: str) -> list[str]:
    return [s for t in _TOKEN.findall(text.lower()) if (s := _stem(t)) not in _STOPWORDS]


def _question_type(text: str, tokens: Sequence[str], starts: Sequence[int]) -> str:
    """What kind of answer the question wants: its question word ("how many", "how much"...
    kept apart from "how"; "which" counted as "what"), "yes/no" for a leading auxiliary,
    "other" for another question, "statement" for text without a question mark."""
    end = text.rfind("?")
    if end < 0:
        return "statement"
    begin = max(text.rfind(c, 0, end) for c in "?.!") + 1
    question = [t for t, at in zip(tokens, starts, strict=True) if begin <= at < end]
    for i, t in enumerate(question[:4]):
        if t in _QUESTION_WORDS:
            nxt = question[i + 1] if i + 1 < len(question) else ""
            if t == "how" and nxt in ("many", "much", "long", "old", "often"):
                return f"how {nxt}"
            return "what" if t == "which" else t
    if question and question[0] in _AUXILIARIES:
        return "yes/no"
    return "other"


@dataclass(frozen=True)
class _Parsed:
    tokens: tuple[str, ...]
    stems: frozenset[str]
    content: frozenset[str]
    numbers: tuple[str, ...]
    years: frozenset[str]
    entities: frozenset[str]
    negations: int
    comparison: frozenset[str] | None
    qtype: str
    polarity: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    directions: frozenset[tuple[str, str, str]]
    operations: frozenset[tuple[str, str, str]]


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> _Parsed:
    tokens: list[str] = []
    starts: list[int] = []
    names: set[str] = set()
    end = 0
    for match in _TOKEN.finditer(text):  # one pass: tokens, positions and names
        word = match.group(0)
        low = word.lower().replace(_APOSTROPHE, "'")
        if low != word and _is_name(word, low, text[end : match.start()], not tokens):
            names.add(_stem(low))
        tokens.append(low)
        starts.append(match.start())
        end = match.end()
    stems = frozenset(_stem(t) for t in tokens)
    numbers = tuple(_numbers(text, tokens))
    return _Parsed(
        tokens=tuple(tokens),
        stems=stems,
        content=frozenset(s for s in stems if s not in _STOPWORDS),
        numbers=numbers,
        years=frozenset(n for n in numbers if len(n) == 4 and n[:2] in ("19", "20")),
        entities=frozenset(names),
        negations=sum(t in _NEGATIONS or t.endswith("n't") for t in tokens),
        comparison=_comparison(text, text.lower()),
        qtype=_question_type(text, tokens, starts),
        polarity=frozenset(_POLAR[t] for t in tokens if t in _POLAR),
        bigrams=frozenset(itertools.pairwise(tokens)),
        directions=_directions(tokens),
        operations=operators.operations(text),
    )


def _jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _mismatch(a: Iterable[str], b: Iterable[str]) -> tuple[float, float]:
    """(both sides have some and they differ, only one side has any) as 0/1 floats."""
    sa, sb = set(a), set(b)
    if sa and sb:
        return (0.0 if sa == sb else 1.0), 0.0
    return 0.0, (1.0 if sa or sb else 0.0)


def extract_features(query: str, candidate: str, similarity: float) -> dict[str, float]:
    """Named features of a (query, stored question) pair; symmetric in the two texts."""
    a, b = _parse(query), _parse(candidate)
    number_one_sided = _mismatch(a.numbers, b.numbers)[1]
    # Numbers are compared as sorted lists: "5 or 10 kg" and "5 kg" differ.
    number_mismatch = 1.0 if a.numbers and b.numbers and a.numbers != b.numbers else 0.0
    entity_union = a.entities | b.entities
    entity_diff = a.entities ^ b.entities
    shared = a.content & b.content
    coverage = min(
        len(shared) / len(a.content) if a.content else 1.0,
        len(shared) / len(b.content) if b.content else 1.0,
    )
    comparison_mismatch, comparison_one_sided = 0.0, 0.0
    if a.comparison is not None and b.comparison is not None:
        comparison_mismatch = 0.0 if a.comparison == b.comparison else 1.0
    elif a.comparison is not None or b.comparison is not None:
        comparison_one_sided = 1.0
    na, nb = len(a.tokens), len(b.tokens)
    strong = a.qtype in _STRONG_TYPES or b.qtype in _STRONG_TYPES
    missing = [e for e in a.entities if e not in b.stems] + [
        e for e in b.entities if e not in a.stems
    ]
    return {
        "cosine": similarity,
        "cosine_excess": max(0.0, similarity - 0.9) * 10.0,
        "jaccard": _jaccard(a.stems, b.stems),
        "content_jaccard": _jaccard(a.content, b.content),
        "content_coverage_min": coverage,
        "unshared_content": math.log1p(len(a.content ^ b.content)),
        "length_ratio": min(na, nb) / max(na, nb) if max(na, nb) else 1.0,
        "number_mismatch": number_mismatch,
        "number_one_sided": number_one_sided,
        "year_mismatch": _mismatch(a.years, b.years)[0],
        "entity_mismatch": (
            len(entity_diff) / len(entity_union) if a.entities and b.entities else 0.0
        ),
        "entity_one_sided": 1.0 if bool(a.entities) != bool(b.entities) else 0.0,
        "negation_mismatch": 1.0 if (a.negations > 0) != (b.negations > 0) else 0.0,
        "comparison_mismatch": comparison_mismatch,
        "comparison_one_sided": comparison_one_sided,
        "question_type_mismatch": 0.0 if a.qtype == b.qtype else 1.0,
        "polarity_mismatch": 1.0 if a.polarity != b.polarity else 0.0,
        "exact_content_match": 1.0 if a.content == b.content and a.numbers == b.numbers else 0.0,
        "question_type_conflict": 1.0 if a.qtype != b.qtype and strong else 0.0,
        "unmatched_max": math.log1p(max(len(a.content - b.content), len(b.content - a.content))),
        "unmatched_min": math.log1p(min(len(a.content - b.content), len(b.content - a.content))),
        "bigram_jaccard": _jaccard(a.bigrams, b.bigrams),
        "entity_missing": 1.0 if missing else 0.0,
        "order_mismatch": 1.0 if _reversed(a.directions, b.directions) else 0.0,
        "operand_order_mismatch": 1.0 if operators.swapped(a.operations, b.operations) else 0.0,
        "contrast_mismatch": 1.0 if contrast_mismatch(query, candidate) else 0.0,
        "role_reversal": 1.0 if _role_reversal(query, candidate) else 0.0,
    }


def _role_reversal(query: str, candidate: str) -> bool:
    return reversed_roles(roles(query, _stem, _STOPWORDS), roles(candidate, _stem, _STOPWORDS))


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
