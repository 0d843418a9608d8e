"""The near-repeat rule: the same question typed again, with other casing, punctuation or typos.

A user who retypes a question ("What foods are high in iron?" / "what fods are high in iron")
asks the same thing, but a typo splits a word into unknown word pieces and the embedding drifts;
capitals and punctuation move the verifier's name and question-type features. Two questions
whose words, lowercased, are the same except for typos are a near repeat. A typo is a one-word
change of at most one edit (two for words of 7+ letters; transpositions count as one) in a word
of 4+ letters, keeping the first letter, where the other spelling is not a word the model knows
(its WordPiece vocabulary): "Austria"/"Australia" or "form"/"from" are two words, never a typo,
and names written with capitals ("CFO", "NASA") never have typos. Digits never
differ. The verifier still applies its vetoes first.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_TOKENIZER = ("tiered_cache.embeddings", "model/tokenizer.json")
MAX_TYPOS = 2
MIN_LETTERS = 4  # "CEO"/"CFO", "cat"/"cut": short words differ by one letter all the time
FLOOR = 0.45
"""Below the similarity threshold, a near repeat is still read down to this cosine: WordPiece
splits a mistyped word, so two typos in a short question can take it from 1.0 to ~0.5."""
WORDS_PER_TYPO = 4  # at most one typo per this many words


@functools.lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Whole words of the packaged model's WordPiece vocabulary (lowercase)."""
    package, name = _TOKENIZER
    raw = resources.files(package).joinpath(name).read_text("utf-8")
    vocab = json.loads(raw)["model"]["vocab"]
    return frozenset(w for w in vocab if w.isalpha())


def edits(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein with adjacent transpositions)."""
    if abs(len(a) - len(b)) > 2:
        return 3
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def is_typo(a: str, b: str) -> bool:
    """Whether `a` and `b` are one word, one of them mistyped."""
    if a == b:
        return True
    if not (a.isalpha() and b.isalpha()) or a[0] != b[0] or min(len(a), len(b)) < MIN_LETTERS:
        return False
    vocab = vocabulary()
    if a in vocab and b in vocab:
        return False
    return edits(a, b) <= (2 if min(len(a), len(b)) >= 7 else 1)


@functools.lru_cache(maxsize=4096)
def _raw(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text))


@functools.lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w.lower().replace("\u2019", "'") for w in _raw(text))


def _acronym(word: str, text: str) -> bool:
    """Two capitals or more ("NASA", "PostgreSQL") in a text that is not all capitals: a name,
    whose one-letter variants are other names, never typos."""
    return sum(c.isupper() for c in word) >= 2 and not text.isupper()


def near_repeat(query: str, candidate: str) -> bool:
    """Whether the two texts are the same question up to casing, punctuation and typos."""
    a, b = _words(query), _words(candidate)
    if a == b:
        return bool(a)
    if len(a) != len(b):
        return False
    raw_a, raw_b = _raw(query), _raw(candidate)
    typos = 0
    for x, y, rx, ry in zip(a, b, raw_a, raw_b, strict=True):
        if x != y:
            if _acronym(rx, query) or _acronym(ry, candidate) or not is_typo(x, y):
                return False
            typos += 1
    return typos <= min(MAX_TYPOS, max(1, len(a) // WORDS_PER_TYPO))


__all__ = ["edits", "is_typo", "near_repeat", "vocabulary"]
