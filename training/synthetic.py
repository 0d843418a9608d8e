"""Synthetic pairs for the judge, made from the questions of the training file only.

    python -m training.synthetic --show 20     # print a sample of each kind

Hard negatives (duplicate = false): one question and the same question with one change that
turns it into another question: a word swapped for its opposite (the contrast lexicon:
WordNet antonyms, affix negations, boundaries, times, qualifiers, platforms), a negation added
or removed ("can" / "can't"), a number changed, am/pm flipped, the operands of a move or a
conversion swapped ("from X to Y" / "from Y to X").

Hard positives (duplicate = true): one question and the same question typed again with typos,
other casing, other punctuation, or leading/trailing fillers from the normalizer's own list.
The perturbations here are written apart from the dev set's generator
(benchmarks/data/make_contrast.py) and never read it: that set stays a test of what the judge
was not shown. Questions come from qqp_labeled_train.jsonl; the dev file is never read.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from tiered_cache.rules.contrast import lexicon

_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,4})(?![\w.])")
_HOUR = re.compile(r"\b(\d{1,2})(\s?)([ap])\.?m\b\.?", re.IGNORECASE)
_OPERAND = r"((?:my|the|a|an|your|this) )?([A-Za-z][\w+#.-]*)"
_MOVE = re.compile(rf"\bfrom {_OPERAND} (to|into|onto) {_OPERAND}(?=[\s?.,!]|$)")
_CONVERT = re.compile(
    rf"\b(convert|translate|migrate|switch|transfer|export|port|copy|move) {_OPERAND} (to|into) "
    rf"{_OPERAND}(?=[\s?.,!]|$)",
    re.IGNORECASE,
)
_NOT_OPERANDS = frozenset(
    [
        "it",
        "them",
        "me",
        "him",
        "her",
        "us",
        "you",
        "one",
        "another",
        "other",
        "there",
        "here",
        "money",
        "be",
        "do",
        "get",
        "make",
        "and",
    ]
)
_NEGATE = {
    "is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "can": "can't",
    "could": "couldn't", "should": "shouldn't", "would": "wouldn't", "will": "won't",
    "do": "don't", "does": "doesn't", "did": "didn't", "has": "hasn't", "have": "haven't",
}  # fmt: skip
_AFFIRM = {v: k for k, v in _NEGATE.items()}
# Words whose opposite turns a question into nonsense more often than into another question.
_SKIP = frozenset(
    [
        "i",
        "a",
        "an",
        "the",
        "it",
        "one",
        "no",
        "all",
        "do",
        "be",
        "have",
        "get",
        "make",
        "take",
        "give",
        "go",
        "come",
        "know",
        "good",
        "bad",
        "new",
        "old",
    ]
)


def _keep_case(word: str, new: str) -> str:
    return new.capitalize() if word[:1].isupper() else new


def antonym(q: str, rng: random.Random) -> str | None:
    lex = lexicon()
    spots = []
    for m in _WORD.finditer(q):
        w = m.group().lower()
        if w in lex.partners and w not in lex.weak and w not in _SKIP and len(w) > 2:
            partners = [p for p in lex.partners[w] if "_" not in p and p not in lex.weak]
            if partners:
                spots.append((m, partners))
    if not spots:
        return None
    m, partners = rng.choice(spots)
    return q[: m.start()] + _keep_case(m.group(), rng.choice(sorted(partners))) + q[m.end() :]


def negation(q: str, rng: random.Random) -> str | None:
    """Negate (or affirm) an auxiliary inside the question. Never its first word: "Is there
    X?" and "Isn't there X?" ask the same; never right after "how": "how don't I" is no
    question, nor are "what doesn't X mean" and the like."""
    words = list(_WORD.finditer(q))
    spots = [
        m
        for i, m in enumerate(words)
        if i > 0
        and m.group().lower() in _NEGATE | _AFFIRM
        and words[i - 1].group().lower() not in ("how", "what", "which", "who", "where")
    ]
    nots = [m for m in re.finditer(r" not\b", q)]
    if not spots and not nots:
        return None
    pick = rng.randrange(len(spots) + len(nots))
    if pick >= len(spots):
        m = nots[pick - len(spots)]
        return q[: m.start()] + q[m.end() :]
    m = spots[pick]
    w = m.group().lower()
    new = _NEGATE.get(w) or _AFFIRM[w]
    return q[: m.start()] + _keep_case(m.group(), new) + q[m.end() :]


def number(q: str, rng: random.Random) -> str | None:
    spots = list(_NUMBER.finditer(q))
    if not spots:
        return None
    m = rng.choice(spots)
    n = int(m.group(1))
    if 1900 <= n <= 2100:
        new = n + rng.choice((-3, -2, -1, 1, 2, 3))
    else:
        new = rng.choice((n + 1, n * 2, max(n - 1, 0), n + 10, n * 10))
    if new == n:
        new = n + 1
    return q[: m.start(1)] + str(new) + q[m.end(1) :]


def hour(q: str, rng: random.Random) -> str | None:
    m = _HOUR.search(q)
    if not m:
        return None
    flip = {"a": "p", "p": "a", "A": "P", "P": "A"}[m.group(3)]
    return q[: m.start(3)] + flip + q[m.start(3) + 1 :]


def operands(q: str, rng: random.Random) -> str | None:
    """Swap source and target: "from X to Y" / "from Y to X", "convert X to Y" / "convert Y
    to X" (each operand one word, with its determiner)."""
    for pattern in (_MOVE, _CONVERT):
        m = pattern.search(q)
        if not m:
            continue
        g = m.groups()
        head, (d1, x, to, d2, y) = (g[:-5], g[-5:])
        if {x.lower(), y.lower()} & _NOT_OPERANDS or x.lower() == y.lower():
            continue
        verb = f"{head[0]} " if head else "from "
        swapped = f"{verb}{d2 or ''}{y} {to} {d1 or ''}{x}"
        return q[: m.start()] + swapped + q[m.end() :]
    return None


NEGATIVES: dict[str, Callable[[str, random.Random], str | None]] = {
    "antonym": antonym,
    "negation": negation,
    "number": number,
    "hour": hour,
    "operands": operands,
}


def typo(q: str, rng: random.Random) -> str:
    words = q.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(spots, min(len(spots), rng.choice((1, 1, 2)))):
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(4)
        if kind == 0:  # transposed
            w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
        elif kind == 1:  # dropped
            w = w[:j] + w[j + 1 :]
        elif kind == 2:  # doubled
            w = w[: j + 1] + w[j:]
        else:  # a neighbouring key
            rows = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
            row = next((r for r in rows if w[j].lower() in r), "")
            if row:
                k = row.index(w[j].lower())
                w = w[:j] + row[(k + rng.choice((-1, 1))) % len(row)] + w[j + 1 :]
        words[i] = w
    return " ".join(words)


def casing(q: str, rng: random.Random) -> str:
    return rng.choice((q.lower(), q.upper(), q.title(), q[:1].lower() + q[1:]))


def punctuation(q: str, rng: random.Random) -> str:
    bare = q.rstrip("?.! ")
    return rng.choice((bare, bare + "??", bare + " ?", bare + "?!", bare + ".", " " + q + "  "))


def _filler_words() -> dict[str, list[str]]:
    """The normalizer's filler words by section (tiered_cache/fillers.txt)."""
    text = resources.files("tiered_cache").joinpath("fillers.txt").read_text("utf-8")
    out: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line:
            out.setdefault(section, []).extend(w.strip() for w in line.split(",") if w.strip())
    return out


def filler(q: str, rng: random.Random) -> str:
    words = _filler_words()
    lead = words["leading"] + words["leading_with_punctuation"]
    trail = words["trailing"]
    if rng.random() < 0.6:
        return f"{rng.choice(lead)}{rng.choice((', ', ': ', ' '))}{q[:1].lower()}{q[1:]}"
    return f"{q.rstrip('?.! ')}{rng.choice((', ', '? ', ' '))}{rng.choice(trail)}"


POSITIVES: dict[str, Callable[[str, random.Random], str]] = {
    "typo": typo,
    "casing": casing,
    "punctuation": punctuation,
    "filler": filler,
}


def synthetic(
    rows: list[dict[str, Any]], negatives: int, positives: int, seed: int
) -> list[dict[str, Any]]:
    """`negatives` hard negatives and `positives` hard positives, each row
    {"a", "b", "duplicate", "kind"}, from the questions of `rows` (the training file)."""
    rng = random.Random(seed)
    questions = sorted({r[k] for r in rows for k in ("a", "b") if 15 <= len(r[k]) <= 200})
    rng.shuffle(questions)
    out: list[dict[str, Any]] = []
    kinds = list(NEGATIVES)
    # Rarer transformations first: a question that allows one is spent on it.
    quota = {"antonym": 0.55, "negation": 0.2, "number": 0.15, "hour": 0.02, "operands": 0.08}
    made = dict.fromkeys(kinds, 0)
    used: set[str] = set()
    for q in questions:
        if sum(made.values()) >= negatives:
            break
        for kind in sorted(kinds, key=lambda k: quota[k]):
            if made[kind] >= quota[kind] * negatives:
                continue
            b = NEGATIVES[kind](q, rng)
            if b and b != q:
                out.append({"a": q, "b": b, "duplicate": False, "kind": kind})
                made[kind] += 1
                used.add(q)
                break
    rest = [q for q in questions if q not in used]
    for i, q in enumerate(rest[:positives]):
        kind = list(POSITIVES)[i % len(POSITIVES)]
        b = POSITIVES[kind](q, rng)
        if rng.random() < 0.3:  # two perturbations at once
            b = POSITIVES[rng.choice(list(POSITIVES))](b, rng)
        if b != q:
            out.append({"a": q, "b": b, "duplicate": True, "kind": kind})
    return out


def main() -> None:
    from .train_duplicates import DATA, read

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--show", type=int, default=10)
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args()
    rows = synthetic(read(DATA / "qqp_labeled_train.jsonl"), 8000, 6000, args.seed)
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["kind"], []).append(r)
    for kind, rs in by.items():
        print(f"== {kind}: {len(rs)}")
        for r in random.Random(1).sample(rs, min(args.show, len(rs))):
            print(f"  {r['a']!r}\n  {r['b']!r}\n")


if __name__ == "__main__":
    main()
