"""A bound on the wrong-answer rate of served semantic hits, proved from audits, and the
controller that keeps it under the user's `max_wrong_rate` (δ).

Settings form a ladder of levels: level 0 is the configured threshold and verifier cut-off,
each level up raises both by a step, each level down lowers them (down to `MIN_LEVEL`: at the
shipped cut-off 0.80, a cut-off of 0.5, even odds); `OFF` serves no semantic hit.
An audit is a request with a semantic candidate whose answer was checked against a fresh model
answer; it records the highest level at which that candidate would still have been served
(`top`) and whether the answers differed. Requests are sampled for audit at one rate whether
they were served or not (a miss calls the model anyway, so its audit is free), so the audits
with `top >= L` are a uniform sample of the hits level L serves: the one-sided Clopper-Pearson
upper bound over them is the bound at L, whatever level was in force when they were taken.

The controller tests levels from the tightest down (fixed-sequence testing: no correction for
the number of levels is needed) and keeps the loosest whose bound is at most δ; a level with
too few audits to pass even without a wrong answer is skipped, the first one that fails stops
the descent. Loosening needs the bound under `LOOSEN * δ` and goes one level at a time;
tightening is immediate. Until some level passes, nothing semantic is served: a wrong answer is
worse than a miss. An entry whose audit failed is refused at that similarity or below it.

The state is JSON in the cache's auxiliary store (`bound:<partition>`, `bound:global`), shared
by every process on one Redis. The decisions are pure; `BoundController` keeps the local copies
a lookup reads and turns an audit into the states to write back (the I/O is its caller's).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import CacheConfig
from ..observability.stats import Stats

logger = logging.getLogger(__name__)

KEY_PREFIX = "bound:"
GLOBAL = "global"
STATE_FORMAT = 3
"""2: the ladder ended at -8 (a stored `top` of -8 may lie lower now): read as fresh."""
CONFIDENCE = 0.95
LOOSEN = 0.7
"""A looser level is taken only when its bound is under this share of δ (hysteresis)."""
WINDOW = 4000
"""Audits remembered per partition (the oldest go first)."""
_LOCAL_STATES = 4096
ENTRIES_KEPT = 1000
"""Per-entry floors remembered per partition."""
MIN_LEVEL = -15
"""At the shipped settings (0.845, 0.80): threshold 0.77, cut-off 0.50 (even odds; below it
the verifier would serve what it thinks more likely different). Deeper levels cost no
statistical power (fixed-sequence testing) and serve only once proved."""
MAX_LEVEL = 9
OFF = MAX_LEVEL + 1
"""The level that serves no semantic hit (near repeats included)."""
NEVER = MIN_LEVEL - 1
"""`top` of a candidate no level would serve."""


def state_key(partition: str) -> str:
    return KEY_PREFIX + (partition or GLOBAL)


def entry_id(question: str) -> str:
    """A short, stable name for a stored question inside its partition."""
    return hashlib.blake2b(question.encode(), digest_size=8).hexdigest()


# -- the statistics ----------------------------------------------------------------------------
def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        log_term = (
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        )
        total += math.exp(log_term)
    return min(1.0, total)


@functools.lru_cache(maxsize=65536)
def upper_bound(wrong: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound on a rate after `wrong` failures in `n` trials:
    the largest p with P(X <= wrong | p) >= 1 - confidence (1.0 without trials)."""
    if n <= 0:
        return 1.0
    if wrong >= n:
        return 1.0
    alpha = 1.0 - confidence
    if wrong == 0:
        return 1.0 - math.pow(alpha, 1.0 / n)
    low, high = wrong / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if _binom_cdf(wrong, n, mid) > alpha:
            low = mid
        else:
            high = mid
    return high


def min_audits(delta: float, confidence: float = CONFIDENCE) -> int:
    """Audits a level needs before it can pass at all (with no wrong answer among them)."""
    return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - delta))


# -- the ladder of settings --------------------------------------------------------------------
@dataclass(frozen=True)
class Ladder:
    """Level -> (similarity threshold, verifier cut-off or None)."""

    threshold: float
    cutoff: float | None
    threshold_step: float = 0.005
    cutoff_step: float = 0.02
    threshold_max: float = 0.995

    def setting(self, level: int) -> tuple[float, float | None]:
        level = max(MIN_LEVEL, min(MAX_LEVEL, level))
        t = min(self.threshold_max, self.threshold + level * self._t_step)
        if self.cutoff is None:
            return t, None
        return t, min(0.999, max(0.0, self.cutoff + level * self.cutoff_step))

    @property
    def _t_step(self) -> float:
        # Without a verifier the threshold is the only lever: bigger steps.
        return self.threshold_step if self.cutoff is not None else 2 * self.threshold_step

    def serves(self, level: int, similarity: float, probability: float | None) -> bool:
        if level >= OFF:
            return False
        t, c = self.setting(level)
        return similarity >= t - 1e-9 and (c is None or (probability or 0.0) >= c - 1e-9)

    def top(self, similarity: float, probability: float | None, near_repeat: bool = False) -> int:
        """The highest level that would serve this candidate (NEVER: none; near repeats pass
        every level but OFF)."""
        if near_repeat:
            return MAX_LEVEL
        best = NEVER
        for level in range(MIN_LEVEL, MAX_LEVEL + 1):
            if self.serves(level, similarity, probability):
                best = level
            else:
                break
        return best


# -- the state of one partition (or of the whole cache) ----------------------------------------
@dataclass
class BoundState:
    level: int = OFF
    audits: list[tuple[int, int]] = field(default_factory=list)
    """(top, wrong) of the latest audits."""
    entries: dict[str, float] = field(default_factory=dict)
    """Entry id -> the similarity a request needs to be served by it (after a failed audit)."""
    audited: int = 0
    wrong: int = 0
    changes: int = 0
    _hist: list[list[int]] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "level": self.level,
                "audits": [[t, w] for t, w in self.audits],
                "entries": self.entries,
                "audited": self.audited,
                "wrong": self.wrong,
                "changes": self.changes,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_raw(cls, raw: bytes | None) -> BoundState:
        """Parse stored state; missing or unreadable state is a fresh one (never an error)."""
        if raw is None:
            return cls()
        try:
            obj: Any = json.loads(raw)
            if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
                raise ValueError("unknown format")
            return cls(
                level=int(obj["level"]),
                audits=[
                    (max(NEVER, min(MAX_LEVEL, int(t))), 1 if w else 0) for t, w in obj["audits"]
                ],
                entries={str(k): float(v) for k, v in obj["entries"].items()},
                audited=int(obj["audited"]),
                wrong=int(obj["wrong"]),
                changes=int(obj["changes"]),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("tiered-cache: ignoring unreadable bound state (%s)", exc)
            return cls()

    def _histogram(self) -> list[list[int]]:
        """[audits, wrong] per `top` (index top - NEVER), kept up to date by `add`."""
        if self._hist is None:
            self._hist = [[0, 0] for _ in range(MAX_LEVEL - NEVER + 1)]
            for top, wrong in self.audits:
                self._hist[top - NEVER][0] += 1
                self._hist[top - NEVER][1] += wrong
        return self._hist

    def add(self, top: int, wrong: bool) -> None:
        hist = self._histogram()
        self.audits.append((top, 1 if wrong else 0))
        hist[top - NEVER][0] += 1
        hist[top - NEVER][1] += 1 if wrong else 0
        for old_top, old_wrong in self.audits[:-WINDOW]:
            hist[old_top - NEVER][0] -= 1
            hist[old_top - NEVER][1] -= old_wrong
        del self.audits[:-WINDOW]

    def counts(self, level: int) -> tuple[int, int]:
        """(wrong, audits) among the audits that `level` would have served."""
        n = k = 0
        for bucket in self._histogram()[max(0, level - NEVER) :]:
            n += bucket[0]
            k += bucket[1]
        return k, n

    def bound(self, level: int, confidence: float = CONFIDENCE) -> tuple[float, int, int]:
        """(upper bound, wrong, audits) of the wrong-answer rate at `level`."""
        if level >= OFF:
            return 0.0, 0, 0
        k, n = self.counts(level)
        return upper_bound(k, n, confidence), k, n


def choose_level(state: BoundState, delta: float, confidence: float = CONFIDENCE) -> int:
    """The level the evidence allows now (see the module docstring)."""
    need = min_audits(delta, confidence)
    chosen = OFF
    for level in range(MAX_LEVEL, MIN_LEVEL - 1, -1):
        ub, _, n = state.bound(level, confidence)
        if n < need:
            continue  # cannot pass yet: untested, not failed
        limit = delta if level >= state.level else LOOSEN * delta
        if ub > limit:
            break
        chosen = level
    if chosen < state.level:  # loosen cautiously: one level at a time
        chosen = state.level - 1 if state.level < OFF else max(chosen, MAX_LEVEL)
    return chosen


@dataclass(frozen=True)
class Audit:
    """One checked answer: the candidate's similarity and verifier probability, whether it was
    served, and whether the fresh answer disagreed."""

    similarity: float
    probability: float | None
    near_repeat: bool
    wrong: bool
    entry: str
    served: bool


def observe(state: BoundState, audit: Audit, ladder: Ladder, delta: float) -> tuple[int, int]:
    """Add one audit to `state` and move its level. Returns (level before, level after)."""
    before = state.level
    top = ladder.top(audit.similarity, audit.probability, audit.near_repeat)
    state.add(top, audit.wrong)
    state.audited += 1
    if audit.wrong:
        state.wrong += 1
        # vCache's idea, per stored question: it no longer answers requests this far from it.
        floor = max(state.entries.pop(audit.entry, 0.0), audit.similarity + 1e-6)
        state.entries[audit.entry] = round(floor, 6)
        while len(state.entries) > ENTRIES_KEPT:
            del state.entries[next(iter(state.entries))]
    state.level = choose_level(state, delta)
    if state.level != before:
        state.changes += 1
    return before, state.level


def audit_rate(state: BoundState, delta: float, cap: float) -> float:
    """The share of candidate requests to audit now: `cap` while the evidence is thin (the
    level in force or the next looser one has too few audits, or the bound is not comfortably
    met), a fifth of it once it is; every one while nothing is served (those audits are free)."""
    if state.level >= OFF:
        return 1.0
    need = min_audits(delta)
    ub, _, n = state.bound(state.level)
    looser = state.bound(state.level - 1)[2] if state.level > MIN_LEVEL else need * 4
    if n < 4 * need or looser < 4 * need or ub > delta / 2:
        return cap
    return cap / 5


def describe(state: BoundState, delta: float, ladder: Ladder) -> dict[str, Any]:
    """What `stats()` shows of one state."""
    ub, k, n = state.bound(state.level)
    t, c = ladder.setting(state.level)
    serving = state.level < OFF
    text = (
        f"wrong answers <= {100 * ub:.1f}% with {CONFIDENCE:.0%} confidence, {n:,} audits"
        if serving
        else f"no semantic hits served yet: {state.audited:,} audits, "
        f"{min_audits(delta):,} at one level needed to prove {100 * delta:g}%"
    )
    return {
        "max_wrong_rate": delta,
        "level": state.level if serving else "off",
        "threshold": t if serving else None,
        "verifier_cutoff": c if serving else None,
        "bound": ub if serving else None,
        "audits_at_level": n,
        "wrong_at_level": k,
        "audited": state.audited,
        "wrong_found": state.wrong,
        "entries_tightened": len(state.entries),
        "text": text,
    }


# -- the controller: local copies of the shared states, and their updates ----------------------
class BoundController:
    """Per-partition levels under `max_wrong_rate`, with a short-lived local copy of the shared
    state (as the adaptive threshold keeps its own). A partition with fewer audits than a level
    needs follows the global level."""

    def __init__(
        self,
        config: Callable[[], CacheConfig],
        base: Callable[[], tuple[float, float | None]],
        stats: Stats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._base = base
        self._stats = stats
        self._clock = clock
        self._local: OrderedDict[str, tuple[BoundState, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def delta(self) -> float:
        return self._config().max_wrong_rate or 1.0

    def ladder(self) -> Ladder:
        threshold, cutoff = self._base()
        return Ladder(threshold, cutoff)

    # -- lookups ---------------------------------------------------------------------------------
    def stale_keys(self, partition: str) -> Iterator[str]:
        """Keys whose local copy is missing or older than `threshold_refresh_seconds`."""
        refresh = self._config().threshold_refresh_seconds
        for key in dict.fromkeys([state_key(GLOBAL), state_key(partition)]):
            cached = self._local.get(key)
            if cached is None or self._clock() - cached[1] >= refresh:
                yield key

    def loaded(self, key: str, raw: bytes | None) -> None:
        self._remember(key, BoundState.from_raw(raw))

    def _remember(self, key: str, state: BoundState) -> None:
        with self._lock:
            self._local[key] = (state, self._clock())
            self._local.move_to_end(key)
            while len(self._local) > _LOCAL_STATES:
                self._local.popitem(last=False)

    def state(self, partition: str) -> BoundState:
        """The state whose level applies to `partition` (its own once it has enough audits)."""
        own = self._local.get(state_key(partition))
        if own is not None and own[0].audited >= min_audits(self.delta):
            return own[0]
        glob = self._local.get(state_key(GLOBAL))
        return glob[0] if glob is not None else BoundState()

    def setting(self, partition: str) -> tuple[int, float, float | None]:
        """(level, threshold, cut-off) for `partition` from the local copies."""
        level = self.state(partition).level
        return (level, *self.ladder().setting(level))

    def refused(self, partition: str, question: str, similarity: float) -> bool:
        """Whether the entry of `question` was tightened past `similarity` by a failed audit."""
        own = self._local.get(state_key(partition))
        floor = own[0].entries.get(entry_id(question)) if own is not None else None
        return floor is not None and similarity < floor

    def rate(self, partition: str) -> float:
        cfg = self._config()
        return audit_rate(self.state(partition), self.delta, cfg.audit_rate)

    # -- audits: the pure update between one read and one write ----------------------------------
    @staticmethod
    def keys(partition: str) -> list[str]:
        return list(dict.fromkeys([state_key(GLOBAL), state_key(partition)]))

    def update(self, partition: str, raws: Sequence[bytes | None], audit: Audit) -> list[bytes]:
        """Add `audit` to the global and the partition's states (read as `raws`, in the order
        of `keys`); returns what to write back."""
        ladder, delta = self.ladder(), self.delta
        out = []
        self._stats.incr("audits")
        if audit.wrong:
            self._stats.incr("audits_wrong")
        for key, raw in zip(self.keys(partition), raws, strict=True):
            state = BoundState.from_raw(raw)
            before, after = observe(state, audit, ladder, delta)
            if after != before:
                self._stats.incr("bound_level_changes")
                logger.info(
                    "tiered-cache: %s level %s -> %s under max_wrong_rate %g (bound %.4f)",
                    key,
                    before,
                    after,
                    delta,
                    state.bound(after)[0],
                )
            self._remember(key, state)
            out.append(state.to_json())
        return out

    def describe(self, partition: str = "") -> dict[str, Any]:
        cached = self._local.get(state_key(partition))
        state = cached[0] if cached is not None else BoundState()
        return describe(state, self.delta, self.ladder())

    def forget_local(self) -> None:
        self._local.clear()
