"""Adaptive similarity threshold: learn from feedback on served semantic hits.

Each partition keeps a bounded window of (similarity, correct) outcomes, and so does the whole
cache ("global"). Precision at the current threshold is read from the window (outcomes with a
similarity at or above it, i.e. the hits that would still be served): below the target the
threshold rises by a step; well above it, and only after enough fresh evidence, it falls by half
a step. A partition with few outcomes follows the global threshold.

The state is JSON in the cache's key-value store (`threshold:<partition>`, `threshold:global`),
so processes sharing a Redis share it; it stores an offset from the configured base threshold,
so a recalibrated base keeps what feedback taught. The decision code is pure; `record` and
`arecord` are its sync and async I/O edges.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..backends.protocols import AuxStore
from ..config import CacheConfig
from ..observability.stats import Stats

logger = logging.getLogger(__name__)

KEY_PREFIX = "threshold:"
GLOBAL = "global"
STATE_FORMAT = 1
_LOCAL_STATES = 4096


def state_key(partition: str) -> str:
    return KEY_PREFIX + (partition or GLOBAL)


@dataclass
class ThresholdState:
    """The feedback window and learned offset of one partition (or of the whole cache)."""

    offset: float = 0.0
    outcomes: list[tuple[float, int]] = field(default_factory=list)
    seen: int = 0
    since_change: int = 0
    changes: int = 0
    updated_at: float = 0.0

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "offset": round(self.offset, 6),
                "outcomes": [[s, ok] for s, ok in self.outcomes],
                "seen": self.seen,
                "since_change": self.since_change,
                "changes": self.changes,
                "updated_at": self.updated_at,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_raw(cls, raw: tuple[bytes, int] | bytes | None) -> ThresholdState:
        """Parse stored state; missing or unreadable state is a fresh one (never an error)."""
        if raw is None:
            return cls()
        data: Any = raw[0] if isinstance(raw, tuple) else raw
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
                raise ValueError("unknown format")
            return cls(
                offset=float(obj["offset"]),
                outcomes=[(float(s), 1 if ok else 0) for s, ok in obj["outcomes"]],
                seen=int(obj["seen"]),
                since_change=int(obj["since_change"]),
                changes=int(obj["changes"]),
                updated_at=float(obj.get("updated_at", 0.0)),
            )
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning("tiered-cache: ignoring unreadable threshold state (%s)", exc)
            return cls()


def effective(state: ThresholdState | None, cfg: CacheConfig) -> float:
    """The threshold a state stands for: the configured one until feedback has moved it."""
    if state is None or state.changes == 0:
        return cfg.similarity_threshold
    return min(cfg.threshold_max, max(cfg.threshold_min, cfg.similarity_threshold + state.offset))


def _precision_at(state: ThresholdState, threshold: float) -> tuple[float, int]:
    kept = [ok for s, ok in state.outcomes if s >= threshold - 1e-9]
    return (sum(kept) / len(kept) if kept else 1.0), len(kept)


def observe(
    state: ThresholdState, similarity: float, correct: bool, cfg: CacheConfig, now: float
) -> tuple[float, float]:
    """Add one outcome to `state` and adapt it. Returns (threshold before, threshold after)."""
    before = effective(state, cfg)
    state.outcomes.append((round(float(similarity), 5), 1 if correct else 0))
    del state.outcomes[: -cfg.feedback_window]
    state.seen += 1
    state.since_change += 1
    state.updated_at = now
    after = before
    precision, n = _precision_at(state, before)
    if n >= cfg.feedback_min_samples:
        if precision < cfg.target_precision and before < cfg.threshold_max:
            after = min(cfg.threshold_max, before + cfg.threshold_step)
        elif (
            precision >= cfg.target_precision + cfg.threshold_lower_margin
            and state.since_change >= 2 * cfg.feedback_min_samples
            and before > cfg.threshold_min
        ):
            # Lowering serves hits never observed before: half a step, and only if what the
            # window knows just below the current threshold is still precise enough.
            lower = max(cfg.threshold_min, before - cfg.threshold_step / 2)
            if _precision_at(state, lower)[0] >= cfg.target_precision:
                after = lower
    if after != before:
        state.offset = after - cfg.similarity_threshold
        state.since_change = 0
        state.changes += 1
    return before, after


@dataclass(frozen=True)
class ThresholdChange:
    partition: str
    before: float
    after: float
    precision: float
    samples: int


class ThresholdController:
    """Per-partition adaptive thresholds with a short-lived local copy of the shared state."""

    def __init__(
        self,
        config: Callable[[], CacheConfig],
        stats: Stats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._stats = stats
        self._clock = clock
        self._local: OrderedDict[str, tuple[ThresholdState | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    # -- lookups: which states to (re)load, then the threshold they give -----------------------
    @property
    def floor(self) -> float:
        """No adapted threshold is below this: weaker candidates need no state at all."""
        cfg = self._config()
        return min(cfg.similarity_threshold, cfg.threshold_min)

    def stale_keys(self, partition: str) -> Iterator[str]:
        """Keys whose local copy is missing or older than `threshold_refresh_seconds`; load each
        (`loaded`) before asking for the next. Lazy, because a cache that never had feedback
        (no global state) has no partition state either, and then needs one read, not two."""
        yield from self._stale(state_key(GLOBAL))
        glob = self._local.get(state_key(GLOBAL))
        if partition and glob is not None and glob[0] is not None:
            yield from self._stale(state_key(partition))

    def _stale(self, key: str) -> Iterator[str]:
        cached = self._local.get(key)
        if cached is None or self._clock() - cached[1] >= self._config().threshold_refresh_seconds:
            yield key

    def loaded(self, key: str, raw: bytes | None) -> None:
        self._remember(key, None if raw is None else ThresholdState.from_raw(raw))

    def _remember(self, key: str, state: ThresholdState | None) -> None:
        with self._lock:
            self._local[key] = (state, self._clock())
            self._local.move_to_end(key)
            while len(self._local) > _LOCAL_STATES:
                self._local.popitem(last=False)

    def current(self, partition: str) -> float:
        """The threshold for `partition` from the local copies (call after loading stale keys)."""
        cfg = self._config()
        part = self._local.get(state_key(partition), (None, 0.0))[0]
        if part is not None and part.seen >= cfg.feedback_min_samples:
            return effective(part, cfg)
        return effective(self._local.get(state_key(GLOBAL), (None, 0.0))[0], cfg)

    # -- feedback: the pure update between one read and one write -------------------------------
    @staticmethod
    def _keys(partition: str) -> list[str]:
        return [state_key(GLOBAL)] + ([state_key(partition)] if partition else [])

    def _update(
        self, partition: str, states: list[ThresholdState], similarity: float, correct: bool
    ) -> float:
        cfg = self._config()
        now = time.time()
        glob, part = states[0], (states[1] if partition else None)
        self._stats.incr("feedback")
        if not correct:
            self._stats.incr("feedback_incorrect")
        if part is not None and part.seen < cfg.feedback_min_samples:
            # Too little of its own evidence: it follows the global threshold until it has some.
            part.offset, part.changes = glob.offset, glob.changes
        named = [(GLOBAL, glob)] + ([(partition, part)] if part is not None else [])
        for name, state in named:
            before, after = observe(state, similarity, correct, cfg, now)
            if after != before:
                precision, n = _precision_at(state, before)
                self._changed(ThresholdChange(name, before, after, precision, n))
            self._remember(state_key(name), state)
        return self.current(partition)

    def _changed(self, change: ThresholdChange) -> None:
        direction = "raised" if change.after > change.before else "lowered"
        self._stats.incr("threshold_changes")
        self._stats.incr(f"threshold_{direction}")
        logger.info(
            "tiered-cache: threshold of partition %s %s %.4f -> %.4f (precision %.3f over %d hits)",
            change.partition,
            direction,
            change.before,
            change.after,
            change.precision,
            change.samples,
        )

    def record(self, kv: AuxStore, partition: str, similarity: float, correct: bool) -> float:
        """Add one outcome, persist it, and return the partition's threshold now.

        Read-modify-write without a lock: two processes recording at the same instant can lose
        one outcome, which a window of statistics tolerates."""
        keys = self._keys(partition)
        states = [ThresholdState.from_raw(kv.get(k)) for k in keys]
        result = self._update(partition, states, similarity, correct)
        for key, state in zip(keys, states, strict=True):
            kv.set(key, state.to_json(), None)
        return result

    async def arecord(
        self, kv: AuxStore, partition: str, similarity: float, correct: bool
    ) -> float:
        keys = self._keys(partition)
        states = [ThresholdState.from_raw(await kv.aget(k)) for k in keys]
        result = self._update(partition, states, similarity, correct)
        for key, state in zip(keys, states, strict=True):
            await kv.aset(key, state.to_json(), None)
        return result

    def forget_local(self) -> None:
        """Drop the local copies (the next lookup reloads them)."""
        self._local.clear()
