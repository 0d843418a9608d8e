"""Which entries an `invalidate(...)` call deletes: tags, model, partition, age.

One piece of code decides, whatever the backend: backends list their entries (`scan_entries`)
and delete the keys they are given (`delete_entries`, the vector in the same step).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .entry import CacheEntry
from .errors import InvalidRequestError

MAX_TAGS = 32
MAX_TAG_CHARS = 256
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def model_digest(model: str) -> str:
    """What an entry keeps of its request's model: a digest, never the name itself (a model
    identity can carry configuration, even a secret, when an adapter cannot parse it)."""
    return hashlib.sha256(model.encode()).hexdigest()[:16]


def check_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Tags as stored: distinct non-empty strings, in order (a bare string is one tag)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_CHARS:
            raise InvalidRequestError(
                f"a tag must be a non-empty string of at most {MAX_TAG_CHARS} characters, "
                f"got {tag!r}"
            )
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidRequestError(f"at most {MAX_TAGS} tags an entry, got {len(out)}")
    return tuple(out)


def parse_age(text: str | float | int) -> float:
    """Seconds of an age: a number of seconds, or '90s', '15m', '12h', '7d', '2w'."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        found = _AGE.match(str(text))
        if found is None:
            raise InvalidRequestError(
                f"an age is a number of seconds or like 90s, 15m, 12h, 7d, 2w; got {text!r}"
            )
        seconds = float(found.group(1)) * _UNIT[found.group(2) or "s"]
    if seconds < 0:
        raise InvalidRequestError(f"an age cannot be negative, got {text!r}")
    return seconds


@dataclass(frozen=True)
class Selection:
    """Entries to delete: every given criterion must hold (an entry matches `tags` when it
    carries any of them)."""

    tags: frozenset[str] = frozenset()
    model: str | None = None
    """A `model_digest`."""
    partition: str | None = None
    older_than: float | None = None

    @classmethod
    def of(
        cls,
        *,
        tags: Iterable[str] | str | None = None,
        model: str | None = None,
        partition: Any = None,
        older_than: str | float | None = None,
    ) -> Selection:
        """A checked selection; `partition` is a partition key or a `CacheRequest`."""
        key = getattr(partition, "partition_key", partition)
        if key is not None and (not isinstance(key, str) or not key):
            raise InvalidRequestError("partition: give a CacheRequest or its partition_key")
        if model is not None and (not isinstance(model, str) or not model):
            raise InvalidRequestError(f"model must be a non-empty string, got {model!r}")
        selection = cls(
            frozenset(check_tags(tags)),
            None if model is None else model_digest(model),
            key,
            None if older_than is None else parse_age(older_than),
        )
        if not selection.tags and model is None and key is None and older_than is None:
            raise InvalidRequestError(
                "say what to invalidate: tags=, model=, partition= and/or older_than= "
                "(clear() deletes everything)"
            )
        return selection

    def matches(self, entry: CacheEntry, now: float) -> bool:
        if self.tags and self.tags.isdisjoint(entry.tags):
            return False
        if self.model is not None and entry.model != self.model:
            return False
        if self.partition is not None and entry.partition != self.partition:
            return False
        return self.older_than is None or now - entry.created_at >= self.older_than

    def describe(self) -> dict[str, Any]:
        return {
            "tags": sorted(self.tags),
            "model_digest": self.model,
            "partition": self.partition,
            "older_than_s": self.older_than,
        }
