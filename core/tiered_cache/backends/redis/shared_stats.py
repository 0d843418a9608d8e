"""Counters shared by every process of a Redis-backed cache, so that any process can report them.

Each process adds its events to a hash `{prefix}:{namespace}:v{version}:stats` with HINCRBY /
HINCRBYFLOAT in one pipeline, at most once per `FLUSH_INTERVAL` seconds (from a short-lived
background thread, so no lookup waits for it) and on `close()` / interpreter exit. A failed flush
keeps its deltas for the next one and never reaches the caller. `read_shared_stats` turns the
hash, plus a scan of the entries' hit counts, back into a `Stats.snapshot()`-shaped dict.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections import defaultdict
from typing import Any

from ...observability.stats import (
    SIMILARITY_BIN,
    SIMILARITY_BINS,
    SIMILARITY_LOW,
    similarity_bin,
)

logger = logging.getLogger(__name__)
FLUSH_INTERVAL = 1.0
_SCAN_COUNT = 1000


def stats_key(base: str) -> str:
    """The shared counters of the namespace whose keys start with `base` (`tc:ns:v1:`)."""
    return f"{base}stats"


class RedisStatsSink:
    """Accumulates counter deltas in memory and adds them to the shared hash now and then."""

    def __init__(self, client: Any, key: str, interval: float = FLUSH_INTERVAL) -> None:
        self._client = client
        self.key = key
        self._interval = interval
        self._lock = threading.Lock()
        self._ints: defaultdict[str, int] = defaultdict(int)
        self._floats: defaultdict[str, float] = defaultdict(float)
        self._last = time.monotonic()
        self._flushing = False
        self._closed = False
        self._healthy = True  # a close() after a failed flush does not wait on a dead Redis
        ref = weakref.ref(self)
        self._atexit = lambda: (s := ref()) is not None and s._healthy and s.flush()
        atexit.register(self._atexit)

    # -- StatsSink -----------------------------------------------------------------------------
    def incr(self, name: str, by: int) -> None:
        with self._lock:
            self._ints[name] += by
        self._maybe_flush()

    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None) -> None:
        with self._lock:
            if outcome == "miss":
                self._ints["misses"] += 1
            else:
                self._ints[f"{outcome}_hits"] += 1
            self._ints[f"latency_count:{outcome}"] += 1
            self._floats[f"latency_sum:{outcome}"] += seconds
            if similarity is not None:
                self._ints["similarity_count"] += 1
                self._floats["similarity_sum"] += similarity
                self._ints[f"similarity_hit:{similarity_bin(similarity)}"] += 1
        self._maybe_flush()

    def observe_near_miss(self, similarity: float) -> None:
        """A semantic miss whose nearest candidate had `similarity` (the page's histogram)."""
        with self._lock:
            self._ints[f"similarity_near_miss:{similarity_bin(similarity)}"] += 1
        self._maybe_flush()

    def observe_saving(self, tokens: int, usd: float) -> None:
        with self._lock:
            self._ints["tokens_saved"] += tokens
            self._floats["usd_saved"] += usd
        self._maybe_flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._healthy:
                self.flush()
            atexit.unregister(self._atexit)

    # -- flushing ------------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._flushing or now - self._last < self._interval:
                return
            self._flushing = True
            self._last = now
        thread = threading.Thread(target=self._flush_in_thread, name="tc-stats", daemon=True)
        thread.start()

    def _flush_in_thread(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flushing = False

    def flush(self) -> bool:
        """Add the pending deltas to the shared hash now; False (deltas kept) if Redis failed."""
        with self._lock:
            ints = {k: v for k, v in self._ints.items() if v}
            floats = {k: v for k, v in self._floats.items() if v}
            self._ints.clear()
            self._floats.clear()
        if not ints and not floats:
            return True
        try:
            pipe = self._client.pipeline(transaction=False)
            for name, value in ints.items():
                pipe.hincrby(self.key, name, value)
            for name, fvalue in floats.items():
                pipe.hincrbyfloat(self.key, name, fvalue)
            pipe.execute()
            self._healthy = True
            return True
        except Exception as exc:  # the counters are best effort: keep them for the next flush
            logger.debug("tiered-cache: shared stats not flushed (%s)", exc)
            self._healthy = False
            with self._lock:
                for name, value in ints.items():
                    self._ints[name] += value
                for name, fvalue in floats.items():
                    self._floats[name] += fvalue
            return False


def _num(raw: dict[str, str], name: str) -> float:
    try:
        return float(raw.get(name, 0))
    except ValueError:
        return 0.0


def read_shared_stats(client: Any, base: str, *, scan: bool = True) -> dict[str, Any]:
    """The shared counters of a namespace (every process), like `Stats.snapshot()`.

    With `scan`, also `entries` (how many are stored now) and `entry_hits` (the sum of their hit
    counts, kept by Redis itself on every served hit): one SCAN of the namespace's keys plus one
    pipelined HGET per entry.
    """
    raw = {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in (client.hgetall(stats_key(base)) or {}).items()
    }
    exact, semantic, coalesced, misses = (
        int(_num(raw, k)) for k in ("exact_hits", "semantic_hits", "coalesced_hits", "misses")
    )
    hits = exact + semantic + coalesced
    lookups = hits + misses
    latency = {}
    for outcome in ("exact", "semantic", "coalesced", "miss"):
        count = int(_num(raw, f"latency_count:{outcome}"))
        if count:
            latency[outcome] = {
                "count": count,
                "mean_ms": 1e3 * _num(raw, f"latency_sum:{outcome}") / count,
            }
    sim_count = int(_num(raw, "similarity_count"))
    out: dict[str, Any] = {
        "lookups": lookups,
        "exact_hits": exact,
        "semantic_hits": semantic,
        "coalesced_hits": coalesced,
        "misses": misses,
        "hit_rate": hits / lookups if lookups else 0.0,
        "stores": int(_num(raw, "stores")),
        "errors": int(_num(raw, "errors")),
        "corrupt_entries": int(_num(raw, "corrupt_entries")),
        "evictions": int(_num(raw, "evictions")),
        "tokens_saved": int(_num(raw, "tokens_saved")),
        "usd_saved": round(_num(raw, "usd_saved"), 6),
        "semantic_similarity": (
            {"count": sim_count, "mean": _num(raw, "similarity_sum") / sim_count}
            if sim_count
            else None
        ),
        "latency": latency,
        "similarities": {  # shaped as Stats.similarities(); near-miss texts stay in each process
            "low": SIMILARITY_LOW,
            "bin": SIMILARITY_BIN,
            "hits": [int(_num(raw, f"similarity_hit:{i}")) for i in range(SIMILARITY_BINS)],
            "near_misses": [
                int(_num(raw, f"similarity_near_miss:{i}")) for i in range(SIMILARITY_BINS)
            ],
            "latest_near_misses": [],
        },
    }
    if scan:
        entries = hits = 0
        pattern = _glob_escape(f"{base}e:") + "*"
        batch: list[Any] = []
        for key in client.scan_iter(match=pattern, count=_SCAN_COUNT):
            batch.append(key)
            if len(batch) >= _SCAN_COUNT:
                entries, hits = _count(client, batch, entries, hits)
                batch = []
        entries, hits = _count(client, batch, entries, hits)
        out["entries"] = entries
        out["entry_hits"] = hits
    return out


def _count(client: Any, keys: list[Any], entries: int, hits: int) -> tuple[int, int]:
    if not keys:
        return entries, hits
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
        # An entry's hit counter sits beside it, at `...:h:{sha}` (see redis_backend).
        name = key.decode() if isinstance(key, bytes) else str(key)
        head, _, sha = name.rpartition(":e:")
        pipe.get(f"{head}:h:{sha}")
    values = pipe.execute()
    for exists, value in zip(values[::2], values[1::2], strict=True):
        if exists:
            entries += 1
            if value is not None:
                with contextlib.suppress(ValueError):
                    hits += int(value)
    return entries, hits


def reset_shared_stats(client: Any, base: str) -> None:
    """Delete the shared counters of a namespace (entries are untouched)."""
    client.delete(stats_key(base))


def _glob_escape(text: str) -> str:
    out = []
    for char in text:
        out.append("\\" + char if char in "*?[]\\" else char)
    return "".join(out)


class RedisSharedCounters:
    """`SharedCounters` on Redis: the namespace's shared hash, on the server that holds it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.where = str(conn.safe_url)

    def read(self, *, scan: bool = True) -> dict[str, Any]:
        return read_shared_stats(self._conn.node(), self._conn.keys.base, scan=scan)

    def reset(self) -> None:
        reset_shared_stats(self._conn.node(), self._conn.keys.base)

    def ping(self) -> None:
        self._conn.node().ping()


__all__ = [
    "RedisSharedCounters",
    "RedisStatsSink",
    "read_shared_stats",
    "reset_shared_stats",
    "stats_key",
]
