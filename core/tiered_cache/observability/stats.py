"""Counters and latency figures, per tier, safe to update from many threads.

Every event is recorded here and only here; `StatsSink`s registered with `add_sink` (Prometheus,
OpenTelemetry, counters shared through Redis) receive each event as it is recorded.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class StatsSink(Protocol):
    """Receives the events Stats records; must be cheap and must never raise."""

    def incr(self, name: str, by: int) -> None: ...
    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None) -> None: ...
    def observe_saving(self, tokens: int, usd: float) -> None: ...
    def close(self) -> None: ...


SIMILARITY_LOW = 0.5
SIMILARITY_BIN = 0.02
SIMILARITY_BINS = 25
NEAR_MISSES_KEPT = 20


def similarity_bin(similarity: float) -> int:
    """The histogram bin of a similarity: SIMILARITY_BIN wide from SIMILARITY_LOW (clamped),
    each bin [low, high): 0.96 falls in 0.96-0.98 despite 0.46 / 0.02 = 22.999..."""
    position = (similarity - SIMILARITY_LOW) / SIMILARITY_BIN + 1e-9
    return max(0, min(SIMILARITY_BINS - 1, int(position)))


_bin = similarity_bin


class Stats:
    """Hits/misses per tier, lookup latency, similarity of semantic hits, errors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._latency: defaultdict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._similarity = [0, 0.0, 1.0]  # count, sum, min
        # Similarities of served semantic hits and of the nearest candidate of semantic misses,
        # in bins of SIMILARITY_BIN from SIMILARITY_LOW up; and the latest near misses.
        self._hit_bins = [0] * SIMILARITY_BINS
        self._near_bins = [0] * SIMILARITY_BINS
        self._near_misses: deque[dict[str, Any]] = deque(maxlen=NEAR_MISSES_KEPT)
        self._usd_saved = 0.0
        self._sinks: tuple[StatsSink, ...] = ()

    def add_sink(self, sink: StatsSink) -> None:
        """Forward every event recorded from now on to `sink` too."""
        self._sinks = (*self._sinks, sink)

    def add_sinks(self, sinks: Iterable[StatsSink]) -> None:
        for sink in sinks:
            self.add_sink(sink)

    def close(self) -> None:
        """Flush and detach the sinks (counters shared through a backend are written out)."""
        sinks, self._sinks = self._sinks, ()
        for sink in sinks:
            try:
                sink.close()
            except Exception:  # a sink must never break the cache
                logger.debug("tiered-cache: closing a stats sink failed", exc_info=True)

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by
        for sink in self._sinks:
            sink.incr(name, by)

    def observe_saving(self, tokens: int, usd: float) -> None:
        """Record what one served hit saved: its tokens and their price."""
        with self._lock:
            self._counts["tokens_saved"] += tokens
            self._usd_saved += usd
        for sink in self._sinks:
            sink.observe_saving(tokens, usd)

    def observe_near_miss(
        self, query: str, nearest: str | None, similarity: float, why: str
    ) -> None:
        """A semantic lookup whose nearest candidate did not answer (below the threshold, or
        rejected by the verifier): where misses fall, for the page and for tuning."""
        with self._lock:
            self._near_bins[_bin(similarity)] += 1
            self._near_misses.append(
                {"query": query, "nearest": nearest, "similarity": similarity, "why": why}
            )
        for sink in self._sinks:  # the sinks that keep a histogram of near misses
            note = getattr(sink, "observe_near_miss", None)
            if note is not None:
                note(similarity)

    def similarities(self) -> dict[str, Any]:
        """The histograms of hit and near-miss similarities, and the latest near misses."""
        with self._lock:
            return {
                "low": SIMILARITY_LOW,
                "bin": SIMILARITY_BIN,
                "hits": list(self._hit_bins),
                "near_misses": list(self._near_bins),
                "latest_near_misses": list(self._near_misses),
            }

    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None = None) -> None:
        """Record one lookup: outcome is 'exact', 'semantic', 'coalesced' (answered by waiting
        for another caller's model call) or 'miss'."""
        with self._lock:
            self._counts[_OUTCOME_COUNTS[outcome]] += 1
            lat = self._latency[outcome]
            lat[0] += 1
            lat[1] += seconds
            lat[2] = max(lat[2], seconds)
            if similarity is not None:
                self._hit_bins[_bin(similarity)] += 1
                s = self._similarity
                s[0] += 1
                s[1] += similarity
                s[2] = min(s[2], similarity)
        for sink in self._sinks:
            sink.observe_lookup(outcome, seconds, similarity)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
            latency = {
                k: {"count": int(v[0]), "mean_ms": 1e3 * v[1] / v[0], "max_ms": 1e3 * v[2]}
                for k, v in self._latency.items()
                if v[0]
            }
            n, total, low = self._similarity
            usd_saved = self._usd_saved
        hits = sum(counts.get(k, 0) for k in HIT_COUNTS)
        lookups = hits + counts.get("misses", 0)
        return {
            "lookups": lookups,
            "exact_hits": counts.get("exact_hits", 0),
            "semantic_hits": counts.get("semantic_hits", 0),
            "coalesced_hits": counts.get("coalesced_hits", 0),
            "misses": counts.get("misses", 0),
            "hit_rate": hits / lookups if lookups else 0.0,
            "stores": counts.get("stores", 0),
            "errors": counts.get("errors", 0),
            "internal_errors": counts.get("internal_errors", 0),
            "breaker_skips": counts.get("breaker_skips", 0),
            "corrupt_entries": counts.get("corrupt_entries", 0),
            "evictions": counts.get("evictions", 0),
            "invalidated": counts.get("invalidated", 0),
            "verifier_rejections": counts.get("verifier_rejections", 0),
            "judge_calls": counts.get("judge_calls", 0),
            "judge_skips": counts.get("judge_skips", 0),
            "feedback": counts.get("feedback", 0),
            "feedback_incorrect": counts.get("feedback_incorrect", 0),
            "threshold_changes": counts.get("threshold_changes", 0),
            **{name: counts.get(name, 0) for name in AUDIT_COUNTS},
            "tokens_saved": counts.get("tokens_saved", 0),
            "usd_saved": round(usd_saved, 6),
            "semantic_similarity": {"count": int(n), "mean": total / n, "min": low} if n else None,
            "latency": latency,
        }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._latency.clear()
            self._similarity = [0, 0.0, 1.0]
            self._hit_bins = [0] * SIMILARITY_BINS
            self._near_bins = [0] * SIMILARITY_BINS
            self._near_misses.clear()
            self._usd_saved = 0.0


_OUTCOME_COUNTS = {
    "exact": "exact_hits",
    "semantic": "semantic_hits",
    "coalesced": "coalesced_hits",
    "miss": "misses",
}
AUDIT_COUNTS = (
    "audits",
    "audits_wrong",
    "audits_paid",
    "audits_free",
    "audits_skipped",
    "audit_errors",
    "audit_tokens",
    "bound_level_changes",
)
"""Audits under max_wrong_rate (audit.py): checked, found wrong, paid, free, and their cost."""
HIT_COUNTS = ("exact_hits", "semantic_hits", "coalesced_hits")
"""The counters that make the hit rate: a coalesced request was served without a model call."""
