"""The caching decisions, written once as plans: generators that yield the I/O steps they need
(`ops`) and receive the results. No I/O happens here; a driver runs a plan on sync or async
backends, and a test can run one by hand."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ..backends.protocols import Match
from ..config import CacheConfig
from ..entry import CacheEntry, CorruptEntryError
from ..errors import InvalidRequestError
from ..invalidation import check_tags, model_digest
from ..observability.pricing import PriceTable, usage_tokens
from ..observability.stats import Stats
from ..request import CacheRequest
from ..rules.bound import OFF, BoundController
from ..rules.threshold import ThresholdController
from ..rules.turns import ContextCheck, context_matches
from ..rules.verifier import Verifier
from .flight import Lead
from .ops import (
    Add,
    AskJudge,
    Compute,
    Delete,
    Embed,
    Follow,
    Get,
    Keep,
    Land,
    Lease,
    Lookup,
    Observe,
    Pause,
    Plan,
    ReadState,
    Search,
    Served,
    Set,
    Step,
    Touch,
    Write,
    served,
)

logger = logging.getLogger(__name__)
LEASE_POLL = 0.02


@dataclass(frozen=True)
class CacheHit:
    """A served entry: which tier answered, how similar the stored question was, and the entry."""

    payload: str
    tier: Literal["exact", "semantic"]
    similarity: float
    matched_query: str | None
    entry: CacheEntry
    partition: str = ""
    """The request's partition key (what `record_feedback` adapts the threshold of)."""
    coalesced: bool = False
    """Served after waiting for another caller's model call (counted as `coalesced_hits`)."""


Joined = tuple[CacheHit | None, Lead | None]
"""What a lookup that leads ends with: the hit, or this caller's lead (or neither)."""


class Plans:
    """Every caching decision: what to read, when a neighbour may answer, what to write."""

    def __init__(
        self,
        config: Callable[[], CacheConfig],
        stats: Stats,
        prices: PriceTable,
        *,
        semantic: bool,
        verifier: Verifier | None,
        thresholds: ThresholdController | None,
        space: str = "",
    ) -> None:
        self._config = config
        self.stats = stats
        self.prices = prices
        self.semantic = semantic
        self.verifier = verifier
        self.thresholds = thresholds
        self.bound: BoundController | None = None
        """Set when `max_wrong_rate` is: the level its audits allow decides (audit.py)."""
        self.space = space
        """The embedder's identity (`embedder_tag`), in the key vectors are filed under."""

    @classmethod
    def build(
        cls, config: Callable[[], CacheConfig], stats: Stats, *, semantic: bool, space: str = ""
    ) -> Plans:
        """The plans a configuration asks for (verifier, adaptive threshold, prices)."""
        cfg = config()
        return cls(
            config,
            stats,
            PriceTable.load(cfg.prices),
            semantic=semantic,
            verifier=Verifier(judge=cfg.judge) if semantic and cfg.verifier else None,
            thresholds=ThresholdController(config, stats)
            if semantic and cfg.adaptive_threshold
            else None,
            space=space,
        )

    # -- reading entries ---------------------------------------------------------------------------
    def entry(self, raw: tuple[bytes, int]) -> CacheEntry | None:
        """The entry in `raw`, or None (counted and logged) when it is corrupt."""
        try:
            return CacheEntry.from_json(raw[0], hit_count=raw[1])
        except CorruptEntryError as exc:
            self.stats.incr("corrupt_entries")
            logger.warning("tiered-cache: dropping a corrupt entry (%s)", exc)
            return None

    @property
    def verifier_cutoff(self) -> float | None:
        """The configured cut-off, else the shipped one (None without a verifier)."""
        if self.verifier is None:
            return None
        configured = self._config().verifier_cutoff
        return self.verifier.cutoff if configured is None else configured

    def prejudged(
        self, query: str, match: Match, cutoff: float | None = None
    ) -> tuple[bool | None, float]:
        """The verifier's decision on `match` without the judge (None: the judge must settle
        it; then the log-odds so far)."""
        if self.verifier is None:
            return True, 0.0
        if match.query_text is None:
            return False, 0.0
        cut = self.verifier_cutoff if cutoff is None else cutoff
        return self.verifier.prejudge(query, match.query_text, match.similarity, cut)

    # -- lookup and store ------------------------------------------------------------------------
    def lookup(
        self, req: CacheRequest, counted: bool = True, exact_only: bool = False
    ) -> Plan[CacheHit | None]:
        """L1, then L2. `counted=False`: a read-only run (explain) records no rejection;
        `exact_only`: L1 alone."""
        raw = yield Get(req.exact_key)
        if raw is not None:
            entry = self.entry(raw)
            if entry is not None:
                if entry.sliding and entry.ttl:
                    yield Touch(req.exact_key, entry.ttl)
                return CacheHit(
                    entry.payload, "exact", 1.0, entry.query_text, entry, req.partition_key
                )
            yield Delete(req.exact_key)
        if exact_only or not self.semantic or not req.semantic_allowed or req.query_text is None:
            return None
        cfg = self._config()
        vector = yield Embed(req.query_text)
        partition = req.partition_key
        matches: list[Match] = yield Search(partition + self.space, vector, cfg.candidates)
        threshold = cfg.similarity_threshold if req.threshold is None else req.threshold
        thresholds = self.thresholds if req.threshold is None else None  # a call's own wins
        if thresholds is not None and matches and matches[0].similarity >= thresholds.floor:
            for key in thresholds.stale_keys(partition):
                thresholds.loaded(key, (yield ReadState(key)))
            threshold = thresholds.current(partition)
        cutoff, bound = self.verifier_cutoff, self.bound if req.threshold is None else None
        if bound is not None and matches:  # under max_wrong_rate the proved level decides
            for key in bound.stale_keys(partition):
                bound.loaded(key, (yield ReadState(key)))
            level, threshold, cutoff = bound.setting(partition)
            if level >= OFF:
                return None
            matches = [
                m
                for m in matches
                if m.query_text is None or not bound.refused(partition, m.query_text, m.similarity)
            ]
        candidates = self._candidates(req.query_text, matches, threshold, cfg, counted, cutoff)
        for z, match in candidates:
            if z is not None:  # the features could not settle it: the judge does
                assert self.verifier is not None and match.query_text is not None
                term = yield AskJudge(req.query_text, match.query_text)
                if counted:
                    self.stats.incr("judge_calls")
                if not self.verifier.conclude(z, term, cutoff):
                    if counted:
                        self.stats.incr("verifier_rejections")
                    continue
            hit = yield from self._served(match, partition, req, counted)
            if hit is not None:
                return hit
        if matches and counted:
            nearest = matches[0]
            why = "below the threshold" if nearest.similarity < threshold else "rejected"
            self.stats.observe_near_miss(
                req.query_text, nearest.query_text, nearest.similarity, why
            )
        return None

    def _candidates(
        self,
        query: str,
        matches: list[Match],
        threshold: float,
        cfg: CacheConfig,
        counted: bool,
        cutoff: float | None = None,
    ) -> Iterator[tuple[float | None, Match]]:
        """The neighbours worth reading, lazily: (None, match) for each the features accept, as
        they come; then (log-odds so far, match) for those only the judge can settle, the most
        promising first and at most `judge_max_calls` of them, so that its cost stays bounded
        however many neighbours come close (one never judged is never served)."""
        undecided: list[tuple[float, Match]] = []
        for match in matches:
            if match.similarity < threshold:
                # Below the threshold only a retyped question (a typo moves the embedding).
                if (
                    self.verifier is not None
                    and match.query_text is not None
                    and self.verifier.near_repeat(query, match.query_text, match.similarity)
                ):
                    yield None, match
                continue
            accepted, z = self.prejudged(query, match, cutoff)
            if accepted is None:
                undecided.append((z, match))
            elif accepted:
                yield None, match
            elif counted:
                self.stats.incr("verifier_rejections")
        undecided.sort(key=lambda u: -u[0])
        skipped = len(undecided) - cfg.judge_max_calls
        if skipped > 0 and counted:
            self.stats.incr("judge_skips", skipped)
        yield from undecided[: cfg.judge_max_calls]

    def _served(
        self, match: Match, partition: str, req: CacheRequest | None = None, counted: bool = True
    ) -> Plan[CacheHit | None]:
        """The hit of an accepted candidate (None: its entry is gone, and its vector with it;
        or the conversation's compared turns do not match the entry's)."""
        raw = yield Get(match.key)
        entry = self.entry(raw) if raw is not None else None
        if entry is None:  # evicted or corrupt: its vector must not be found again
            yield Delete(match.key)
            return None
        if req is not None and (req.context or entry.context):
            check = yield from self.context_check(req, entry)
            if not check.matched:
                if counted:
                    self.stats.incr("verifier_rejections")
                return None
        if entry.sliding and entry.ttl:
            yield Touch(match.key, entry.ttl)
        return CacheHit(
            entry.payload, "semantic", match.similarity, match.query_text, entry, partition
        )

    def context_check(self, req: CacheRequest, entry: CacheEntry) -> Plan[ContextCheck]:
        """Whether the request's compared earlier turns match the entry's, turn against turn
        (conversation.py), with the verifier and threshold of the single-question path."""
        cfg = self._config()
        threshold = cfg.similarity_threshold if req.threshold is None else req.threshold
        return (
            yield from context_matches(
                req.context,
                entry.context,
                self.verifier,
                self.verifier_cutoff,
                threshold,
                Embed,
                AskJudge,
            )
        )

    def forget(self, req: CacheRequest) -> Plan[bool]:
        """Delete the entry stored for this request (and its vector)."""
        yield Delete(req.exact_key)
        return True

    def store(
        self,
        req: CacheRequest,
        payload: str,
        usage: Mapping[str, Any] | None,
        ttl: float | None,
        tags: Sequence[str] = (),
        sliding: bool | None = None,
    ) -> Plan[bool]:
        """Write the entry (and its vector when deterministic); False when it is too large.
        `sliding` None: the cache's `ttl_policy`."""
        if not isinstance(payload, str):
            raise InvalidRequestError(f"payload must be a string, got {type(payload).__name__}")
        cfg = self._config()
        ttl = cfg.ttl if ttl is None else ttl
        model = req.partition.get("model")
        entry = CacheEntry(
            payload,
            req.query_text,
            usage,
            ttl=ttl,
            tags=check_tags(tags),
            model=model_digest(model) if isinstance(model, str) else None,
            partition=req.partition_key,
            sliding=bool(ttl) and (cfg.ttl_policy == "sliding" if sliding is None else sliding),
            context=req.context,
        )
        try:
            value = entry.to_json()
        except orjson.JSONEncodeError as exc:
            raise InvalidRequestError(f"payload or usage cannot be stored as JSON: {exc}") from exc
        if len(value) > cfg.max_payload_bytes:
            self.stats.incr("rejected_writes")
            logger.warning(
                "tiered-cache: not storing a %d-byte entry (max_payload_bytes=%d)",
                len(value),
                cfg.max_payload_bytes,
            )
            return False
        add = None
        if self.semantic and req.semantic_allowed and req.query_text is not None:
            # Embed first: the entry and its vector are then written in one operation.
            vector = yield Embed(req.query_text)
            add = Add(req.exact_key, req.partition_key + self.space, vector, req.query_text, ttl)
        yield Write(Set(req.exact_key, value, ttl), add)
        return True  # the caller counts the store once the write has succeeded

    def observe(
        self, hit: CacheHit | None, started: float, request: CacheRequest | None = None
    ) -> CacheHit | None:
        """Record a finished lookup (latency, tier, similarity, tokens and money saved)."""
        elapsed = time.perf_counter() - started
        if hit is None:
            self.stats.observe_lookup("miss", elapsed)
            return None
        if hit.coalesced:
            self.stats.observe_lookup("coalesced", elapsed)
        else:
            self.stats.observe_lookup(
                hit.tier, elapsed, hit.similarity if hit.tier == "semantic" else None
            )
        usage = hit.entry.usage
        if usage:
            model = request.partition.get("model") if request is not None else None
            tokens = usage_tokens(usage)
            found = self.prices.price(model if isinstance(model, str) else None)
            usd = 0.0 if found is None else self.prices.cost_of(found[1], tokens)
            self.stats.observe_saving(tokens[2], usd)
        return hit

    # -- single-flight: lookups that lead, get_or_compute --------------------------------------
    def join(self, request: CacheRequest) -> Generator[Step, Any, Joined]:
        """Lead the request's key, or wait for its leader and read the answer it stored.

        In this process, the first caller leads and the others wait for it to land; across
        processes, the leader also takes the key's Redis lease, and a leader that cannot (another
        process computes) polls for that process's answer. A leader that failed frees the key: a
        waiter then leads in its place. Nothing waits past `lease_wait` s in all: then (None,
        None), and the caller computes without leading. Counts nothing."""
        key = request.exact_key
        deadline = time.monotonic() + self._config().lease_wait
        while True:
            lead: Lead | None = yield Follow(key, max(0.0, deadline - time.monotonic()))
            if lead is None:
                hit = yield Lookup(request)
                if hit is not None or time.monotonic() >= deadline:
                    return hit, None
                continue  # the leader failed (or expired): lead in its place
            if lead.token is not None:  # this caller leads it already, with the lease
                return None, lead
            try:
                token = uuid.uuid4().hex
                if (yield Lease(key, token, acquire=True)):
                    lead.token = token
                    # A caller that led and landed since this caller's lookup stored the answer
                    # under this key: read it once more (L1 only) before calling the model.
                    hit = yield Lookup(request, exact_only=True)
                    if hit is None:
                        return None, lead
                    yield from self.land(lead)
                    return hit, None
                while time.monotonic() < deadline:  # another process computes: wait for it
                    yield Pause(LEASE_POLL)
                    hit = yield Lookup(request)
                    if hit is not None:
                        yield Land(lead)
                        return hit, None
            except BaseException:
                yield Land(lead)
                raise
            return None, lead  # the other process is too slow: compute, still leading here

    def land(self, lead: Lead) -> Generator[Step, Any, None]:
        """The leader is done (stored, or failed): release its lease, wake its followers."""
        try:
            if lead.token is not None:
                yield Lease(lead.key, lead.token, acquire=False)
        finally:
            yield Land(lead)

    def led(
        self, request: CacheRequest, missed_at: float | None = None
    ) -> Generator[Step, Any, Joined]:
        """A lookup that leads on a miss: (hit, None) when served (`coalesced` after waiting for
        another caller); (None, lead): this caller leads and must land; (None, None): waiting ran
        out. Counted once. `missed_at`: the caller looked it up already (then) and missed."""
        hit: CacheHit | None = None
        started = missed_at
        if started is None:
            started = time.perf_counter()
            hit = yield Lookup(request)
        lead = None
        if hit is None:
            hit, lead = yield from self.join(request)
            if hit is not None:
                hit = dataclasses.replace(hit, coalesced=True)
        try:
            yield Observe(request, hit, started)
        except BaseException:
            if lead is not None:
                yield from self.land(lead)
            raise
        return hit, lead

    def compute(self, request: CacheRequest, ttl: float | None) -> Generator[Step, Any, Served]:
        """Serve a hit; else lead the key (or wait for its leader's answer: `join`), compute,
        store, land."""
        hit, lead = yield from self.led(request)
        if hit is not None:
            return Served(hit.payload, hit)
        try:
            answer = served((yield Compute()))
            yield Keep(request, answer, ttl)
            return answer
        finally:
            if lead is not None:
                yield from self.land(lead)
