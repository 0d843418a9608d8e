"""Cache entries and their JSON form (never pickle)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
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

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "schema": ENTRY_SCHEMA,
                "payload": self.payload,
                "query": self.query_text,
                "usage": dict(self.usage) if self.usage is not None else None,
                "created_at": self.created_at,
                "ttl": self.ttl,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str, hit_count: int = 0) -> CacheEntry:
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
        return cls(
            payload=payload,
            query_text=data.get("query") if isinstance(data.get("query"), str) else None,
            usage=usage if isinstance(usage, dict) else None,
            created_at=float(created),
            ttl=float(ttl) if isinstance(ttl, (int, float)) else None,
            hit_count=hit_count,
        )
