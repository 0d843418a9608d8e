"""Text normalization: the rules that decide when two prompts are "the same" for the exact tier."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigurationError
from .fillers import strip_fillers
from .keys import utf8_safe

# Dynamic tokens that make every request unique without changing what is asked.
DYNAMIC_PATTERNS: Mapping[str, str] = {
    "uuid": r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    "timestamp": (
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b"
    ),
    "date": r"\b\d{4}-\d{2}-\d{2}\b",
    "hex_id": r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{16,}\b",
}

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Normalizer:
    """NFKC, whitespace folding, optional case folding and stripping of dynamic tokens.

    Stripping is opt-in per token kind: a UUID or a date is often the very thing a user asks about,
    so only full timestamps (almost always request metadata) are stripped by default. Leading
    and trailing fillers ("um,", "hey", "quick question:", ", please"; fillers.txt) are dropped
    unless `fillers` is False: a text without them keeps its key.
    """

    casefold: bool = False
    strip: tuple[str, ...] = ("timestamp",)
    extra_patterns: tuple[str, ...] = ()
    fillers: bool = True
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = [name for name in self.strip if name not in DYNAMIC_PATTERNS]
        if unknown:
            raise ConfigurationError(
                f"unknown dynamic token kind(s) {unknown}; choose from {sorted(DYNAMIC_PATTERNS)}"
            )
        patterns: list[re.Pattern[str]] = []
        # Timestamps before dates, so a timestamp is removed whole.
        for name in DYNAMIC_PATTERNS:
            if name in self.strip:
                patterns.append(re.compile(DYNAMIC_PATTERNS[name]))
        for raw in self.extra_patterns:
            try:
                patterns.append(re.compile(raw))
            except re.error as exc:
                raise ConfigurationError(f"invalid normalization regex {raw!r}: {exc}") from exc
        object.__setattr__(self, "_compiled", tuple(patterns))

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", utf8_safe(text))
        for pattern in self._compiled:
            text = pattern.sub("<*>", text)
        text = _WHITESPACE.sub(" ", text).strip()
        if self.fillers:
            text = strip_fillers(text)
        return text.casefold() if self.casefold else text

    def describe(self) -> list[str]:
        """The pipeline as a list of step names, reported in stats."""
        steps = ["nfkc", *(f"strip:{name}" for name in DYNAMIC_PATTERNS if name in self.strip)]
        steps += [f"strip:/{p}/" for p in self.extra_patterns]
        steps.append("whitespace")
        if self.fillers:
            steps.append("fillers")
        if self.casefold:
            steps.append("casefold")
        return steps
