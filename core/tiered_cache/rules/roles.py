"""The role veto: the same move in the other direction, whatever words say it.

"Export my spreadsheet to a CSV file" and "import a CSV file into my spreadsheet", or "transfer
photos from my phone to my laptop" and "copy the pictures on my laptop onto my phone": each
question has a source (a "from"/"off"/"out of" phrase, else the words just before the
connector) and a target (the words after "to"/"into"/"onto"/"towards"). Compared as sets of
content words, a question whose target holds a word of the other's source, and whose source a
word of the other's target (words in the same role on both sides do not count), asks for the
reverse move: a veto.
The verifier's `order_mismatch` catches the same words reversed; this one the rewordings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Sequence

TARGETS = frozenset({"to", "into", "onto", "towards", "toward"})
AS = "as"  # "save X as Y": a move too, but "as" has many senses: only compared with another "as"
SOURCES = frozenset({"from", "off"})
# Words that end a phrase: a source or target never reaches past them.
BOUNDARIES = TARGETS | SOURCES | frozenset(
    {"and", "or", "but", "with", "by", "for", "at", "in", "on", "than", AS, "using", "via",
     "without", "if", "when", "while", "so", "because", "then", "that", "which", "who"}
)  # fmt: skip
REACH = 4  # how far a phrase reaches from its connector, in tokens

Role = tuple[str, frozenset[str], frozenset[str]]  # (connector kind, source, target words)


def _phrase(
    stems: Sequence[str], start: int, step: int, stop: Collection[str]
) -> tuple[frozenset[str], str | None]:
    """The content words from `start` walking by `step`, and the boundary word that ended it."""
    out: set[str] = set()
    i = start
    while 0 <= i < len(stems) and abs(i - start) < REACH:
        word = stems[i]
        if word in BOUNDARIES:
            return frozenset(out), word
        if word not in stop:
            out.add(word)
        i += step
    return frozenset(out), None


@functools.lru_cache(maxsize=4096)
def _roles_cached(stems: tuple[str, ...], stop: frozenset[str]) -> tuple[Role, ...]:
    sources: set[str] = set()
    for i, word in enumerate(stems):
        if word in SOURCES or (word == "out" and i + 1 < len(stems) and stems[i + 1] == "of"):
            sources |= _phrase(stems, i + (2 if word == "out" else 1), 1, stop)[0]
    out: list[Role] = []
    for i, word in enumerate(stems):
        # "used to cast", "how to move": after a function word, "to" starts a verb, not a target.
        if (word not in TARGETS and word != AS) or i == 0:
            continue
        if word == "to" and stems[i - 1] in stop:
            continue
        target, _ = _phrase(stems, i + 1, 1, stop)
        source = frozenset(sources)
        if not source:
            source, ended_by = _phrase(stems, i - 1, -1, stop)
            if ended_by in TARGETS or ended_by == AS:  # "cast dates to objects" after "to"
                continue
        # Words on both sides ("JPG images to PNG images") tell nothing about direction.
        source, target = source - target, target - source
        if target and source:
            out.append((AS if word == AS else "to", source, target))
    return tuple(out)


_IDENTIFIER = re.compile(r"[\w'\u2019]+")  # "to_pandas", "date_as_object": one token each


def roles(text: str, stem: Callable[[str], str], stop: frozenset[str]) -> tuple[Role, ...]:
    """(source, target) content-word sets of each "to"/"into"/"onto"/"as" of a question."""
    tokens = _IDENTIFIER.findall(text.lower())
    return _roles_cached(tuple(stem(t) for t in tokens), stop)


def reversed_roles(a: Sequence[Role], b: Sequence[Role]) -> bool:
    """Whether one question moves from the other's target to the other's source."""
    return any(
        (ka == kb) and (ta & sb) - tb - sa and (sa & tb) - sb - ta
        for ka, sa, ta in a
        for kb, sb, tb in b
    )


__all__ = ["roles", "reversed_roles"]
