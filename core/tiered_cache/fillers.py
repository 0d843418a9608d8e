"""Fillers around a request ("um,", "hey", "quick question:", ", please"): one data file, one
loader, one function the normalizer calls. Only the start and the end of a text are touched, and
a word that could be the point of the question ("Like what?", "How do I say please?") stays."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from .errors import ConfigurationError

FILLERS_FILE = "fillers.txt"
_PUNCT = r"[,:;!.\u2013\u2014-]"
SECTIONS = (
    "leading",
    "leading_with_punctuation",
    "leading_before_question",
    "question_words",
    "trailing",
    "trailing_bare",
    "speech",
)


@dataclass(frozen=True)
class Fillers:
    """The compiled rules of one fillers file."""

    leading: re.Pattern[str]
    trailing: re.Pattern[str]
    trailing_bare: re.Pattern[str]
    speech: frozenset[str]

    def strip(self, text: str) -> str:
        """`text` without its leading and trailing fillers (unchanged when it is all fillers)."""
        out = text
        while True:
            match = self.leading.match(out)
            if not match or match.end() >= len(out):
                break
            out = out[match.end() :]
        if out is not text and out[:1].islower() and not out[1:2].isupper():
            out = out[0].upper() + out[1:]  # "um, what is X?" reads "What is X?"
        while True:
            match = self.trailing.search(out) or self._bare(out)
            if not match or match.start() == 0:
                break
            out = out[: match.start()] + match.group("end")
        if out is text:
            return text
        return out.strip()

    def _bare(self, text: str) -> re.Match[str] | None:
        match = self.trailing_bare.search(text)
        if match is None:
            return None
        before = text[: match.start()].split()
        return None if before and before[-1].lower() in self.speech else match


def _alternatives(words: list[str]) -> str:
    ordered = sorted(words, key=len, reverse=True)  # "hey there" before "hey"
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered)


def parse_fillers(text: str) -> Fillers:
    """Compile a fillers file (see its header)."""
    sections: dict[str, list[str]] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            if current not in SECTIONS:
                raise ConfigurationError(f"{FILLERS_FILE}:{number}: unknown section {line}")
            sections.setdefault(current, [])
            continue
        if current is None:
            raise ConfigurationError(f"{FILLERS_FILE}:{number}: a word before any section")
        sections[current].extend(w.strip().lower() for w in line.split(",") if w.strip())
    missing = [s for s in SECTIONS if not sections.get(s)]
    if missing:
        raise ConfigurationError(f"{FILLERS_FILE}: empty or missing section(s) {missing}")
    always = _alternatives(sections["leading"])
    punct = _alternatives(sections["leading_with_punctuation"])
    greet = _alternatives(sections["leading_before_question"])
    asks = _alternatives(sections["question_words"])
    leading = re.compile(
        rf"^\s*(?:(?:{always})\b\s*{_PUNCT}*"  # "um", "quick question:"
        rf"|(?:{punct})\s*{_PUNCT}+"  # "so,", "hey!"
        rf"|(?:{greet})\b(?=\s+(?:{asks})\b))\s*",  # "hey how ..."
        re.IGNORECASE,
    )
    trail = _alternatives(sections["trailing"])
    bare = _alternatives(sections["trailing_bare"])
    end = r"(?P<end>[?.!]*)\s*$"
    trailing = re.compile(rf"(?:\s*,|(?<=[?.!]))\s*(?:{trail})\b\s*[!.]*{end}", re.IGNORECASE)
    trailing_bare = re.compile(rf"\s+(?:{bare})\b{end}", re.IGNORECASE)
    return Fillers(leading, trailing, trailing_bare, frozenset(sections["speech"]))


@functools.lru_cache(maxsize=1)
def fillers() -> Fillers:
    """The shipped fillers (read once)."""
    raw = resources.files("tiered_cache").joinpath(FILLERS_FILE).read_text("utf-8")
    return parse_fillers(raw)


def strip_fillers(text: str) -> str:
    """`text` without the shipped leading and trailing fillers."""
    return fillers().strip(text)


__all__ = ["Fillers", "fillers", "parse_fillers", "strip_fillers"]
