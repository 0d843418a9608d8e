"""Counters and latency figures, per tier, safe to update from many threads."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any


class Stats:
    """Hits/misses per tier, lookup latency, similarity of semantic hits, errors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._latency: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._similarity = [0, 0.0, 1.0]  # count, sum, min

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by

    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None = None) -> None:
        """Record one lookup: outcome is 'exact', 'semantic' or 'miss'."""
        with self._lock:
            self._counts[f"{outcome}_hits" if outcome != "miss" else "misses"] += 1
            lat = self._latency[outcome]
            lat[0] += 1
            lat[1] += seconds
            lat[2] = max(lat[2], seconds)
            if similarity is not None:
                s = self._similarity
                s[0] += 1
                s[1] += similarity
                s[2] = min(s[2], similarity)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
            latency = {
                k: {"count": int(v[0]), "mean_ms": 1e3 * v[1] / v[0], "max_ms": 1e3 * v[2]}
                for k, v in self._latency.items()
                if v[0]
            }
            n, total, low = self._similarity
        lookups = sum(counts.get(k, 0) for k in ("exact_hits", "semantic_hits", "misses"))
        hits = counts.get("exact_hits", 0) + counts.get("semantic_hits", 0)
        return {
            "lookups": lookups,
            "exact_hits": counts.get("exact_hits", 0),
            "semantic_hits": counts.get("semantic_hits", 0),
            "misses": counts.get("misses", 0),
            "hit_rate": hits / lookups if lookups else 0.0,
            "stores": counts.get("stores", 0),
            "errors": counts.get("errors", 0),
            "corrupt_entries": counts.get("corrupt_entries", 0),
            "evictions": counts.get("evictions", 0),
            "tokens_saved": counts.get("tokens_saved", 0),
            "semantic_similarity": {"count": int(n), "mean": total / n, "min": low} if n else None,
            "latency": latency,
        }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._latency.clear()
            self._similarity = [0, 0.0, 1.0]
