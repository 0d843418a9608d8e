"""Cache entries and their JSON form (never pickle)."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

ENTRY_SCHEMA = 1


class CorruptEntryError(ValueError):
    """Stored bytes are not an entry of ours (foreign data, another schema, truncated)."""


@dataclass(frozen=True)
class CacheEntry:
    """A stored response with what is needed to report and expire it."""

    payload: str
    query_text: str | None = None
    usage: Mapping[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    ttl: float | None = None
    hit_count: int = 0
    tags: tuple[str, ...] = ()
    """User tags (a document id, a policy version): what `invalidate(tags=...)` deletes by."""
    model: str | None = None
    """A digest of the request's model (`invalidation.model_digest`), never its name."""
    partition: str | None = None
    """The request's partition key: what `invalidate(partition=...)` deletes by."""
    sliding: bool = False
    """Each hit restarts the TTL (else it runs from `created_at`)."""
    context: tuple[tuple[str, str], ...] = ()
    """`history="relevant"`: the earlier turns (role, text) a request must match by meaning."""

    def to_json(self) -> bytes:
        """The entry as JSON; fields that are None are left out."""
        data: dict[str, Any] = {"schema": ENTRY_SCHEMA, "payload": self.payload}
        if self.query_text is not None:
            data["query"] = self.query_text
        if self.usage is not None:
            data["usage"] = dict(self.usage)
        data["created_at"] = self.created_at
        if self.ttl is not None:
            data["ttl"] = self.ttl
        if self.tags:
            data["tags"] = list(self.tags)
        if self.model is not None:
            data["model"] = self.model
        if self.partition is not None:
            data["partition"] = self.partition
        if self.sliding:
            data["sliding"] = True
        if self.context:
            data["context"] = [list(turn) for turn in self.context]
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str, hit_count: int = 0) -> CacheEntry:
        fields = _fields(raw) if len(raw) <= _REMEMBER_MAX_BYTES else _fields.__wrapped__(raw)
        entry = cls.__new__(cls)  # the fields were checked once: skip the frozen __init__
        entry.__dict__.update(fields)
        entry.__dict__["hit_count"] = hit_count
        return entry


_REMEMBER_MAX_BYTES = 16_384
"""Entries up to this size are parsed once per process while they are read repeatedly."""


@functools.lru_cache(maxsize=1024)
def _fields(raw: bytes | str) -> dict[str, Any]:
    """The fields of a stored entry but its hit count; the same bytes always give the same
    fields (usage is read-only: a `MappingProxyType`), so they are remembered."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptEntryError(f"entry is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != ENTRY_SCHEMA:
        raise CorruptEntryError("entry has an unknown schema")
    payload = data.get("payload")
    created = data.get("created_at")
    if not isinstance(payload, str) or not isinstance(created, (int, float)):
        raise CorruptEntryError("entry lacks a string payload or a creation time")
    usage = data.get("usage")
    ttl = data.get("ttl")
    query = data.get("query")
    tags = data.get("tags")
    model = data.get("model")
    partition = data.get("partition")
    context = data.get("context")
    return {
        "context": _context(context),
        "tags": tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        "model": model if isinstance(model, str) else None,
        "partition": partition if isinstance(partition, str) else None,
        "sliding": data.get("sliding") is True,
        "payload": payload,
        "query_text": query if isinstance(query, str) else None,
        "usage": MappingProxyType(usage) if isinstance(usage, dict) else None,
        "created_at": float(created),
        "ttl": float(ttl) if isinstance(ttl, (int, float)) else None,
    }


def _context(raw: Any) -> tuple[tuple[str, str], ...]:
    """Stored compared turns; a malformed list is corrupt (it must never read as "none")."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(
        isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in raw
    ):
        raise CorruptEntryError("entry has a malformed context")
    return tuple((t[0], t[1]) for t in raw)
