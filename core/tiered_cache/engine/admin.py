"""The operations of the people who run a cache: bulk warm, feedback, the live threshold,
targeted invalidation, clear, the stats snapshot and close.

Warm and feedback degrade like a lookup (a backend failure is counted and skipped); the
destructive operations (invalidate, clear) raise `BackendError` when the backend fails: the
caller asked for them and must know they did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, TypeVar

from ..backends.protocols import AsyncClose, Backends
from ..config import CacheConfig
from ..embeddings.embedder import EmbeddingService
from ..entry import CacheEntry, CorruptEntryError
from ..errors import BackendError
from ..invalidation import Selection
from ..observability.stats import Stats
from ..request import CacheRequest
from .ops import Op, Write
from .plans import CacheHit, Plans
from .runner import Runner

T = TypeVar("T")


class Admin:
    """Bulk and admin operations over one cache's runner."""

    def __init__(self, runner: Runner, stats: Stats, config: Callable[[], CacheConfig]) -> None:
        self.runner = runner
        self.policy = runner.policy
        self.backends: Backends = runner.backends
        self.plans: Plans = runner.plans
        self.embeddings: EmbeddingService | None = runner.embeddings
        self.stats = stats
        self._config = config  # a callable: `calibrate` may replace the cache's config

    # -- bulk warm and feedback ------------------------------------------------------------------
    def warm(self, items: Iterable[tuple[CacheRequest, str]], batch_size: int) -> int:
        """The store plans decide as in `store`; only their writes are held back and sent
        together (pipelined on Redis), after the batch's questions are embedded at once."""
        stored = 0
        for batch in _batched(items, batch_size):
            if self.embeddings is not None:
                texts = [r.query_text for r, _ in batch if r.semantic_allowed and r.query_text]
                self.embeddings.embed_many(texts)  # memoized: the plans below reuse them
            writes: list[Write] = []

            def deferring(op: Op, writes: list[Write] = writes) -> Any:
                if isinstance(op, Write):
                    return writes.append(op)
                return self.runner.do(op)

            plans = (self.plans.store(req, payload, None, None) for req, payload in batch)
            accepted = sum(self.runner.run(plan, False, deferring) for plan in plans)
            if accepted and self.policy.guarded(partial(self._flushed, writes), False):
                self.stats.incr("stores", accepted)
                stored += accepted
        return stored

    def _flushed(self, writes: list[Write]) -> bool:
        self.runner.write(writes)
        return True

    def record_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        thresholds = self.plans.thresholds
        if thresholds is None or hit.tier != "semantic":
            return None
        aux = self.backends.aux
        return self.policy.guarded(
            lambda: thresholds.record(aux, hit.partition, hit.similarity, correct), None
        )

    async def arecord_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        thresholds = self.plans.thresholds
        if thresholds is None or hit.tier != "semantic":
            return None
        aux = self.backends.aux
        return await self.policy.aguarded(
            lambda: thresholds.arecord(aux, hit.partition, hit.similarity, correct), None
        )

    def current_threshold(self, partition: str) -> float:
        thresholds = self.plans.thresholds
        if thresholds is None:
            return self._config().similarity_threshold
        try:
            with self.runner.edge:
                for key in thresholds.stale_keys(partition):
                    thresholds.loaded(key, self.backends.aux.get(key))
        except BackendError as exc:  # the threshold this process knows
            self.policy.backend_failed(exc)
        return thresholds.current(partition)

    # -- targeted invalidation and clear (a backend failure raises) -----------------------------
    def invalidate(self, selection: Selection, dry_run: bool) -> int:
        b = self.backends
        with self.runner.edge:
            keys = _selected(b.entries.entries(), selection)
            if dry_run or not keys:
                return len(keys)
            deleted = b.entries.delete_many(keys)
            if b.own_index is not None:
                for key in keys:
                    b.own_index.delete(key)
        self.stats.incr("invalidated", deleted)
        return deleted

    async def ainvalidate(self, selection: Selection, dry_run: bool) -> int:
        b = self.backends
        with self.runner.edge:
            keys = _selected(await b.entries.aentries(), selection)
            if dry_run or not keys:
                return len(keys)
            deleted = await b.entries.adelete_many(keys)
            if b.own_index is not None:
                for key in keys:
                    await b.own_index.adelete(key)
        self.stats.incr("invalidated", deleted)
        return deleted

    def clear(self, aux: bool) -> None:
        """Delete everything (a failing backend raises `BackendError`: the caller asked)."""
        b = self.backends
        with self.runner.edge:
            b.entries.clear()
            if b.own_index is not None:
                b.own_index.clear()
            if aux:
                b.aux.clear()

    async def aclear(self, aux: bool) -> None:
        b = self.backends
        with self.runner.edge:
            await b.entries.aclear()
            if b.own_index is not None:
                await b.own_index.aclear()
            if aux:
                await b.aux.aclear()

    # -- what it is doing, and closing -----------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The counters and latencies, with the settings that explain them."""
        cfg = self._config()
        snap = self.stats.snapshot()
        snap["config"] = {
            "namespace": cfg.namespace,
            "backend": self.backends.kind,
            "semantic": self.plans.semantic,
            "threshold": cfg.similarity_threshold,
            "verifier_cutoff": self.plans.verifier_cutoff,
            "adaptive_threshold": self.plans.thresholds is not None,
        }
        snap["similarities"] = self.stats.similarities()
        if self.embeddings is not None:
            snap["embeddings"] = {
                "model": self.embeddings.embedder.model_id,
                "encode_calls": self.embeddings.encode_calls,
                "encoded_texts": self.embeddings.encoded_texts,
            }
        near = self.backends.near
        if near is not None:
            snap["near_cache"] = {"live": near.live, "entries": len(near), "served": near.served}
        return snap

    def close(self) -> None:
        self.stats.close()
        self.backends.entries.close()
        if self.backends.own_index is not None:
            self.backends.own_index.close()

    async def aclose(self) -> None:
        self.stats.close()
        for backend in (self.backends.entries, self.backends.own_index):
            if isinstance(backend, AsyncClose):
                await backend.aclose()
            elif backend is not None:
                backend.close()


def _selected(rows: list[tuple[str, bytes]], selection: Selection) -> list[str]:
    now = time.time()
    keys = []
    for key, raw in rows:
        try:
            entry = CacheEntry.from_json(raw)
        except CorruptEntryError:
            continue  # a read drops it
        if selection.matches(entry, now):
            keys.append(key)
    return keys


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
