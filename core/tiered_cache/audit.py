"""Audits under `max_wrong_rate`: a sample of served semantic hits is re-asked to the model in
the background and the answers compared; a sample of misses with a near neighbour is compared
for free (the model was called anyway). Each audit moves the bound (`rules/bound.py`).

Audits run where the cache calls the model (`get_or_compute`, the adapters' model wrappers):
the served answer is returned first and the audit starts after, in a daemon thread (or an
asyncio task); a failing model, comparator or backend is counted (`audit_errors`) and logged,
never raised. At most one audit is in flight per stored entry, and `MAX_IN_FLIGHT` in all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import background
from .backends.protocols import Match
from .engine.ops import Embed, Get, Op, Search, Served
from .entry import CacheEntry, CorruptEntryError
from .observability.pricing import usage_tokens
from .request import CacheRequest
from .rules.bound import NEVER, OFF, Audit, BoundController, entry_id

if TYPE_CHECKING:
    from .config import CacheConfig
    from .embeddings.embedder import EmbeddingService
    from .engine.driver import Driver
    from .engine.ops import Computed
    from .engine.plans import Plans

logger = logging.getLogger(__name__)
AnswersAgree = Callable[[str, str], bool]
"""(served answer, fresh answer) -> whether they agree."""
AnswerText = Callable[[str], str]
"""The answer a stored payload holds (an adapter's payload is more than its answer)."""
MAX_IN_FLIGHT = 8
AGREE_SIMILARITY = 0.85
"""Cosine of the two answers' embeddings at or above which they agree (after exact checks)."""
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_YES_NO = re.compile(r"^\W*(yes|no|true|false)\b", re.IGNORECASE)
_CODE = re.compile(r"```.*?```", re.DOTALL)
_POLARITY = {"yes": True, "true": True, "no": False, "false": False}


def exact_checks(served: str, fresh: str) -> bool | None:
    """False when the answers differ where wording cannot: their numbers, a leading yes/no,
    their code blocks; None when these checks cannot tell."""
    nums = [sorted(set(_NUMBER.findall(t.replace(",", "")))) for t in (served, fresh)]
    if nums[0] != nums[1]:
        return False
    polarity = [_YES_NO.match(t) for t in (served, fresh)]
    if (
        polarity[0]
        and polarity[1]
        and _POLARITY[polarity[0].group(1).lower()] != _POLARITY[polarity[1].group(1).lower()]
    ):
        return False
    code = [[" ".join(b.split()) for b in _CODE.findall(t)] for t in (served, fresh)]
    if code[0] != code[1]:
        return False
    if " ".join(served.split()) == " ".join(fresh.split()):
        return True
    return None


class EmbeddingComparator:
    """The default comparator: the exact checks, then the packaged embedding model on both
    answers (cosine >= AGREE_SIMILARITY)."""

    def __init__(self, embeddings: EmbeddingService) -> None:
        self.embeddings = embeddings

    def __call__(self, served: str, fresh: str) -> bool:
        verdict = exact_checks(served, fresh)
        if verdict is not None:
            return verdict
        a, b = (
            np.asarray(self.embeddings.embed(t[:2000]), dtype=np.float32) for t in (served, fresh)
        )
        cos = float(a @ b / ((np.linalg.norm(a) * np.linalg.norm(b)) or 1.0))
        return cos >= AGREE_SIMILARITY


def _fresh(computed: Computed) -> tuple[str, Any]:
    if isinstance(computed, str):
        return computed, None
    return computed[0], computed[1]


AUDITED_WHERE = (
    "audits run where the cache calls the model: get_or_compute / aget_or_compute, LlamaIndex's "
    "CachedLLM and LangChain's cached(model) (calls, and streams read to their end); a lookup() "
    "alone and LangChain's set_llm_cache path (LangChain calls the model) are never audited"
)


class Auditor:
    """Samples requests for audit and runs the audits off the call path."""

    def __init__(
        self,
        driver: Driver,
        plans: Plans,
        bound: BoundController,
        answers_agree: AnswersAgree,
        rng: random.Random | None = None,
    ) -> None:
        self.driver = driver
        self.plans = plans
        self.bound = bound
        self.answers_agree = answers_agree
        self.stats = driver.stats
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_warning = 0.0

    # -- sampling (on the call path: cheap, never raises) ----------------------------------------
    def _claim(self, request: CacheRequest, served: Served) -> str | None:
        """The in-flight name of an audit to start for this outcome, or None."""
        try:
            hit = served.hit
            if hit is not None and (hit.tier != "semantic" or hit.coalesced):
                return None
            if hit is None and (not request.semantic_allowed or request.query_text is None):
                return None
            partition = request.partition_key
            if self._rng.random() >= self.bound.rate(partition):
                return None
            name = (
                f"{partition}\x1f{entry_id(hit.matched_query or '')}"
                if hit is not None
                else f"miss\x1f{request.exact_key}"
            )
            with self._lock:
                if name in self._in_flight or len(self._in_flight) >= MAX_IN_FLIGHT:
                    self.stats.incr("audits_skipped")
                    return None
                self._in_flight.add(name)
            return name
        except Exception as exc:
            self._failed(exc)
            return None

    def after(
        self,
        request: CacheRequest,
        served: Served,
        compute: Callable[[], Computed],
        ttl: float | None = None,
        answer_text: AnswerText | None = None,
    ) -> None:
        """Maybe audit this outcome of `get_or_compute`, in a background thread.
        `answer_text(payload)`: the answer a payload holds, for the comparator (an adapter's
        payload is JSON with ids and token counts that differ between right answers)."""
        name = self._claim(request, served)
        if name is None:
            return

        def run() -> None:
            try:
                self._audit(request, served, compute, ttl, answer_text)
            except Exception as exc:
                self._failed(exc)
            finally:
                with self._lock:
                    self._in_flight.discard(name)

        background.start(run, "tiered-cache-audit")

    def aafter(
        self,
        request: CacheRequest,
        served: Served,
        compute: Callable[[], Awaitable[Computed]],
        ttl: float | None = None,
        answer_text: AnswerText | None = None,
    ) -> None:
        """`after` for asyncio callers: the audit is a task of the running loop."""
        name = self._claim(request, served)
        if name is None:
            return

        async def run() -> None:
            try:
                await self._aaudit(request, served, compute, ttl, answer_text)
            except Exception as exc:
                self._failed(exc)
            finally:
                with self._lock:
                    self._in_flight.discard(name)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _failed(self, exc: Exception) -> None:
        self.stats.incr("audit_errors")
        now = time.monotonic()
        if now - self._last_warning > 60.0:
            self._last_warning = now
            logger.warning(
                "tiered-cache: an audit failed (%s: %s); counted", type(exc).__name__, exc
            )

    # -- the audits ------------------------------------------------------------------------------
    def _judged(self, query: str, candidate: str, similarity: float) -> tuple[float | None, bool]:
        verifier = self.plans.verifier
        if verifier is None:
            return None, False
        return verifier.score(query, candidate, similarity), verifier.near_repeat(
            query, candidate, similarity
        )

    def _audit(
        self,
        request: CacheRequest,
        served: Served,
        compute: Callable[[], Computed],
        ttl: float | None,
        answer_text: AnswerText | None = None,
    ) -> None:
        hit = served.hit
        if hit is None:
            found = self.driver.runner.run(self._nearest(request), None)
            if found is None:
                return
            match, stored = found
            fresh, candidate, similarity = served.payload, stored, match.similarity
            question = match.query_text or ""
        else:
            fresh, usage = _fresh(compute())
            self._paid(usage)
            candidate, similarity, question = hit.payload, hit.similarity, hit.matched_query or ""
        query = request.query_text or ""
        probability, near = self._judged(query, question, similarity)
        audit = Audit(
            similarity,
            probability,
            near,
            not self._agree(candidate, fresh, answer_text),
            entry_id(question),
            hit is not None,
        )
        if hit is None and self.bound.ladder().top(similarity, probability, near) == NEVER:
            return  # no level would serve it: it says nothing about any
        self._record(request.partition_key, audit)
        if hit is not None:  # the fresh answer refreshes the request's own entry
            self.driver.store(request, fresh, None, ttl)

    async def _aaudit(
        self,
        request: CacheRequest,
        served: Served,
        compute: Callable[[], Awaitable[Computed]],
        ttl: float | None,
        answer_text: AnswerText | None = None,
    ) -> None:
        hit = served.hit
        if hit is None:
            found = await self.driver.runner.arun(self._nearest(request), None)
            if found is None:
                return
            match, stored = found
            fresh, candidate, similarity = served.payload, stored, match.similarity
            question = match.query_text or ""
        else:
            fresh, usage = _fresh(await compute())
            self._paid(usage)
            candidate, similarity, question = hit.payload, hit.similarity, hit.matched_query or ""
        query = request.query_text or ""
        probability, near = await asyncio.to_thread(self._judged, query, question, similarity)
        agree = await asyncio.to_thread(self._agree, candidate, fresh, answer_text)
        audit = Audit(similarity, probability, near, not agree, entry_id(question), hit is not None)
        if hit is None and self.bound.ladder().top(similarity, probability, near) == NEVER:
            return
        partition = request.partition_key
        keys = self.bound.keys(partition)

        async def record() -> None:
            raws = [await self.driver.backends.aux.aget(k) for k in keys]
            for key, value in zip(keys, self.bound.update(partition, raws, audit), strict=True):
                await self.driver.backends.aux.aset(key, value, None)

        await self.driver.policy.aguarded(record, None)
        if hit is not None:
            await self.driver.astore(request, fresh, None, ttl)

    def _agree(self, candidate: str, fresh: str, answer_text: AnswerText | None) -> bool:
        if answer_text is not None:
            candidate, fresh = answer_text(candidate), answer_text(fresh)
        return self.answers_agree(candidate, fresh)

    def _paid(self, usage: Any) -> None:
        self.stats.incr("audits_paid")
        if usage:
            self.stats.incr("audit_tokens", usage_tokens(usage)[2])

    def _record(self, partition: str, audit: Audit) -> None:
        keys = self.bound.keys(partition)
        aux = self.driver.backends.aux

        def record() -> None:
            raws = [aux.get(k) for k in keys]
            for key, value in zip(keys, self.bound.update(partition, raws, audit), strict=True):
                aux.set(key, value, None)

        self.driver.policy.guarded(record, None)

    def _nearest(self, request: CacheRequest) -> Generator[Op, Any, tuple[Match, str] | None]:
        """The nearest other stored question of the request's partition and its answer."""
        assert request.query_text is not None
        vector = yield Embed(request.query_text)
        space = request.partition_key + self.plans.space
        matches: list[Match] = yield Search(space, vector, 2)
        for match in matches:
            if match.key == request.exact_key or match.query_text is None:
                continue
            raw = yield Get(match.key)
            if raw is None:
                return None
            try:
                entry = CacheEntry.from_json(raw[0], hit_count=raw[1])
            except CorruptEntryError:
                return None
            self.stats.incr("audits_free")
            return match, entry.payload
        return None

    def explain(self, partition: str) -> dict[str, Any]:
        """For `explain()`: the setting the bound puts in force for `partition`, and where
        audits happen (a lookup alone is never audited: it does not call the model)."""
        level, threshold, cutoff = self.bound.setting(partition)
        return {
            "max_wrong_rate": self.bound.delta,
            "level": level if level < OFF else "off",
            "threshold": threshold if level < OFF else None,
            "verifier_cutoff": cutoff if level < OFF else None,
            "audited_where": AUDITED_WHERE,
        }

    def describe(self) -> dict[str, Any]:
        """The global bound, read from the backend (this process's copy if it fails)."""
        key = self.bound.keys("")[0]
        raw = self.driver.policy.guarded(lambda: self.driver.backends.aux.get(key), None)
        if raw is not None:
            self.bound.loaded(key, raw)
        return self.bound.describe()


class Wired(Protocol):
    """What `auditor_for` reads of a cache (the facade, without importing it)."""

    config: CacheConfig
    plans: Plans
    embeddings: EmbeddingService | None
    driver: Driver


def auditor_for(cache: Wired, answers_agree: AnswersAgree | None) -> Auditor | None:
    """The auditor `cache.config` asks for (None without `max_wrong_rate` or semantic tier);
    it sets the bound controller the lookups read."""
    plans = cache.plans
    if cache.config.max_wrong_rate is None or not plans.semantic:
        return None
    if answers_agree is None:
        if cache.embeddings is None:
            return None
        answers_agree = EmbeddingComparator(cache.embeddings)

    def base() -> tuple[float, float | None]:
        return cache.config.similarity_threshold, plans.verifier_cutoff

    bound = BoundController(lambda: cache.config, base, cache.driver.stats)
    plans.bound = bound
    return Auditor(cache.driver, plans, bound, answers_agree)
