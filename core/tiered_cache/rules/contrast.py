"""The contrast veto: two questions that differ by a pair of opposites never share an answer.

"Is the store open on Sunday?" and "Is the store closed on Sunday?" embed almost the same, and
no negation word tells them apart. A word of one question whose contrast partner (from the
lexicon `contrast_pairs.txt`: WordNet antonyms plus curated boundaries, times, directions,
qualifiers and platforms) stands in the other question, where the first does not, vetoes the
hit. Affix negation is a rule: "unsafe"/"safe", "non-refundable"/"refundable", "harmless"/
"harmful", only when the bare word stands in the other question ("understand" never meets
"derstand"). Very common words ("in"/"out", "first"/"last", "am"/"pm") count only where the two
questions differ at that very place of their word-by-word alignment.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from ..errors import ConfigurationError

LEXICON_FILE = "contrast_pairs.txt"
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_HOUR = re.compile(r"(\d)\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_NON = re.compile(r"\bnon[-\s]+(?=[^\W\d_]{3})", re.IGNORECASE)
_NEGATING_PREFIXES = ("non", "un")
_MIN_STEM = 3  # "un" + a word of at least this many letters
_SUFFIXES = (
    ("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("d", ""),
    ("ing", ""), ("ing", "e"), ("er", ""), ("er", "e"), ("est", ""), ("est", "e"),
    ("ier", "y"), ("iest", "y"),
)  # fmt: skip


@dataclass(frozen=True)
class Lexicon:
    """Opposite pairs, the words that count only when aligned, phrases and irregular forms."""

    partners: Mapping[str, frozenset[str]]
    weak: frozenset[str]
    phrases: tuple[tuple[tuple[str, ...], str], ...]
    irregular: Mapping[str, str]

    def opposite(self, a: str, b: str) -> bool:
        return b in self.partners.get(a, ())


def parse_lexicon(text: str) -> Lexicon:
    """Parse the lexicon's text (see the file's header for the syntax)."""
    pairs: set[tuple[str, str]] = set()
    dropped: set[tuple[str, str]] = set()
    weak: set[str] = set()
    phrases: list[tuple[tuple[str, ...], str]] = []
    irregular: dict[str, str] = {}
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        words = line.lower().split()
        if section == "weak":
            weak.update(words)
        elif section in ("phrase", "irregular"):
            left, sep, right = line.lower().partition("=")
            if not sep or not left.split() or len(right.split()) != 1:
                raise ConfigurationError(f"{LEXICON_FILE}:{number}: expected 'words = token'")
            if section == "phrase":
                phrases.append((tuple(left.split()), right.strip()))
            else:
                irregular[left.strip()] = right.strip()
        elif section == "drop":
            if len(words) != 2:
                raise ConfigurationError(f"{LEXICON_FILE}:{number}: a dropped pair is two words")
            dropped.add((min(words), max(words)))
        elif words[0] == "*":
            group = words[1:]
            pairs.update((a, b) for a in group for b in group if a != b)
        elif "|" in words:
            at = words.index("|")
            lefts, rights = words[:at], words[at + 1 :]
            if not lefts or not rights or "|" in rights:
                raise ConfigurationError(f"{LEXICON_FILE}:{number}: expected 'a ... | b ...'")
            pairs.update((a, b) for a in lefts for b in rights if a != b)
        elif len(words) == 2:
            pairs.add((words[0], words[1]))
        else:
            raise ConfigurationError(f"{LEXICON_FILE}:{number}: cannot read {raw!r}")
    partners: dict[str, set[str]] = {}
    for a, b in pairs:
        if (min(a, b), max(a, b)) in dropped:
            continue
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    phrases.sort(key=lambda p: -len(p[0]))  # longest first: "no more than" before "more"
    return Lexicon(
        partners={w: frozenset(p) for w, p in partners.items()},
        weak=frozenset(weak),
        phrases=tuple(phrases),
        irregular=irregular,
    )


@functools.lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The shipped lexicon (read once)."""
    raw = resources.files("tiered_cache.rules").joinpath(LEXICON_FILE).read_text("utf-8")
    return parse_lexicon(raw)


def _candidates(token: str) -> Iterable[str]:
    """Simple lemmas of a token: plural, possessive, -ed, -ing, -er, -est undone."""
    if token.endswith("'s"):
        token = token[:-2]
        yield token
    for suffix, repl in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 2:
            base = token[: -len(suffix)] + repl
            yield base
            if len(base) > 2 and base[-1] == base[-2] and not repl:  # "banned" -> "ban"
                yield base[:-1]


@functools.lru_cache(maxsize=65536)
def lemma(token: str) -> str:
    """The lexicon's form of a token when it has one, else the token minus a plural "s"."""
    lex = lexicon()
    token = token.replace("\u2019", "'")
    if token in lex.partners or token in lex.weak:
        return token
    if token in lex.irregular:
        return lex.irregular[token]
    for candidate in _candidates(token):
        if candidate in lex.partners or candidate in lex.irregular:
            return lex.irregular.get(candidate, candidate)
    if token.endswith("'s"):
        token = token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


@functools.lru_cache(maxsize=4096)
def lemmas(text: str) -> tuple[str, ...]:
    """The question as lexicon lemmas, with phrases ("at least") and "7 pm" folded to tokens."""
    text = _NON.sub("non", _HOUR.sub(r"\1 \2m", text))
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    starts = _phrase_starts()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for words, token in starts.get(tokens[i], ()):
            if tuple(tokens[i : i + len(words)]) == words:
                out.append(token)
                i += len(words)
                break
        else:
            out.append(lemma(tokens[i]))
            i += 1
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _phrase_starts() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """The lexicon's phrases by their first word (longest first)."""
    out: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for words, token in lexicon().phrases:
        out.setdefault(words[0], []).append((words, token))
    return out


def _affix_opposite(a: str, b: str) -> bool:
    """ "unsafe"/"safe", "nonrefundable"/"refundable", "harmless"/"harmful"."""
    for x, y in ((a, b), (b, a)):
        for prefix in _NEGATING_PREFIXES:
            if x.startswith(prefix) and x[len(prefix) :] == y and len(y) >= _MIN_STEM:
                return True
    return (
        len(a) > 4
        and len(b) > 3
        and (
            (a.endswith("less") and b.endswith("ful") and a[:-4] == b[:-3])
            or (a.endswith("ful") and b.endswith("less") and a[:-3] == b[:-4])
        )
    )


def _opposite(a: str, b: str) -> bool:
    return lexicon().opposite(a, b) or _affix_opposite(a, b)


def _affix_partners(x: str) -> set[str]:
    """The words `_affix_opposite` pairs with `x`."""
    out = {prefix + x for prefix in _NEGATING_PREFIXES if len(x) >= _MIN_STEM}
    out.update(x[len(p) :] for p in _NEGATING_PREFIXES if x.startswith(p))
    if x.endswith("less"):
        out.add(x[:-4] + "ful")
    if x.endswith("ful"):
        out.add(x[:-3] + "less")
    return out


def contrasts(query: str, candidate: str) -> list[tuple[str, str]]:
    """The opposite pairs that tell the two questions apart: (word of the query, word of the
    candidate), each word absent from the other question. Empty: no contrast."""
    a, b = lemmas(query), lemmas(candidate)
    set_a, set_b = frozenset(a), frozenset(b)
    only_a, only_b = set_a - set_b, set_b - set_a
    if not only_a or not only_b:
        return []
    weak = lexicon().weak
    partners = lexicon().partners
    found: list[tuple[str, str]] = []
    for x in only_a:
        if x in weak:
            continue
        for y in (partners.get(x, frozenset()) | _affix_partners(x)) & only_b:
            if y not in weak and _opposite(x, y):
                found.append((x, y))
    # Weak words: only where the alignment replaces one by the other.
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            continue
        for x in a[i1:i2]:
            for y in b[j1:j2]:
                if (x in weak or y in weak) and x in only_a and y in only_b and _opposite(x, y):
                    found.append((x, y))
    return sorted(set(found))


def contrast_mismatch(query: str, candidate: str) -> bool:
    """Whether the two questions differ by a pair of opposites (a hard veto)."""
    return bool(contrasts(query, candidate))


__all__ = [
    "Lexicon",
    "contrast_mismatch",
    "contrasts",
    "lemma",
    "lemmas",
    "lexicon",
    "parse_lexicon",
]
