"""The verifier's features and vetoes: what two questions' texts say, compared.

Deterministic evidence that a semantic neighbour asks the same question as the query: numbers,
years, capitalized names, negation, comparison targets, question type, token overlap, length
ratio, and the hard vetoes (operand order in `operators.py`, opposite words in `contrast.py`,
reversed roles in `roles.py`). `extract_features` names them all; the scorer that weighs them is
`verifier.py`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import operators
from .contrast import contrast_mismatch
from .roles import reversed_roles, roles

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
