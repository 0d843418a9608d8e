"""The administration half of the facade: the verifier, feedback and calibration of the hit
rules, explain and peek, forget, invalidate, clear, stats and close.

`TieredCache` inherits these public methods from `CacheAdmin`, so the facade module keeps the
lookup and store path only (`cache.py` stays small enough to read at once). Each method forwards
to the engine's `Admin` (`engine/admin.py`), the read-only `engine/explain.py`, or the
calibration rule (`rules/calibration.py`); none of them imports the facade or a tool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .audit import Auditor
from .config import CacheConfig
from .embeddings.embedder import EmbeddingService
from .engine.driver import Driver
from .engine.explain import explain
from .engine.plans import CacheHit, Plans
from .invalidation import Selection
from .normalize import Normalizer
from .request import CacheRequest
from .rules.calibration import CalibrationResult, calibrate_cache
from .rules.verifier import Verifier

logger = logging.getLogger("tiered_cache.cache")  # the facade's logger, as before the split
__all__ = ["CacheAdmin"]


class CacheAdmin:
    """The administration methods of `TieredCache` (see the module's docstring)."""

    config: CacheConfig
    driver: Driver
    auditor: Auditor | None
    embeddings: EmbeddingService | None
    normalizer: Normalizer
    plans: Plans

    @property
    def verifier(self) -> Verifier | None:
        return self.plans.verifier

    @property
    def verifier_cutoff(self) -> float | None:
        """The cut-off the verifier applies: the configured one, else the shipped one."""
        return self.plans.verifier_cutoff

    # -- the hit rules: verifier, feedback, calibration -----------------------------------------
    def record_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        """Report whether a served semantic hit was right; the threshold of its partition (and
        the global one) adapts. Returns the partition's threshold now, or None when adaptation
        is off or the hit was exact. Backend failures are logged, never raised."""
        return self.driver.admin.record_feedback(hit, correct)

    async def arecord_feedback(self, hit: CacheHit, correct: bool) -> float | None:
        return await self.driver.admin.arecord_feedback(hit, correct)

    def current_threshold(self, partition: str = "") -> float:
        """The similarity threshold lookups in `partition` use now ("" for the global one)."""
        return self.driver.admin.current_threshold(partition)

    def calibrate(
        self,
        pairs: Iterable[tuple[str, str, bool]],
        target_precision: float = 0.95,
        *,
        confidence: float = 0.95,
        apply: bool = True,
    ) -> CalibrationResult:
        """Choose the threshold (and verifier cut-off) from labelled (asked, stored, duplicate)
        pairs: the highest hit rate whose precision reaches the target with `confidence` (a
        lower confidence bound, so the choice holds beyond these pairs). `apply` sets them."""
        result = calibrate_cache(self, pairs, target_precision, confidence)
        if apply:
            changes: dict[str, Any] = {"threshold": result.threshold}
            if result.verifier_cutoff is not None:
                changes["verifier_cutoff"] = result.verifier_cutoff
            self.config = self.config.replace(**changes)
            logger.info("tiered-cache: calibrated: %s", result.summary())
        return result

    def explain(self, request: CacheRequest, k: int = 5) -> dict[str, Any]:
        """Read-only: what a lookup of `request` would serve and why (exact entry, the `k`
        nearest semantic candidates with similarity, threshold, verdict). Counts no hit."""
        report = explain(self.driver.runner, self.config, request, k)
        if self.auditor is not None:  # max_wrong_rate: the setting in force, and who audits
            report["bound"] = self.auditor.explain(request.partition_key)
        return report

    def peek(self, key: str) -> tuple[bytes, int] | None:
        """An entry's bytes and hit count, without counting a hit where the backend allows."""
        return self.driver.runner.peek(key)

    # -- admin ------------------------------------------------------------------------------------
    def forget(self, request: CacheRequest) -> bool:
        """Delete what is stored for exactly this request (its vector too); False when the
        backend failed (a miss, as for every cache operation on the call path)."""
        return self.driver.forget(request)

    async def aforget(self, request: CacheRequest) -> bool:
        return await self.driver.aforget(request)

    def invalidate(
        self,
        *,
        tags: Iterable[str] | str | None = None,
        model: str | None = None,
        partition: CacheRequest | str | None = None,
        older_than: str | float | None = None,
        dry_run: bool = False,
    ) -> int:
        """Delete the entries that match every given criterion (their vectors with them) and
        return how many; `dry_run`: only count them. `tags`: entries carrying any of these;
        `model`: stored for this model; `partition`: stored for this request's partition (the
        same system prompt, model, parameters, tools...); `older_than`: seconds, or "15m",
        "12h", "7d". A backend failure raises `BackendError`."""
        selection = Selection.of(tags=tags, model=model, partition=partition, older_than=older_than)
        return self.driver.admin.invalidate(selection, dry_run)

    async def ainvalidate(
        self,
        *,
        tags: Iterable[str] | str | None = None,
        model: str | None = None,
        partition: CacheRequest | str | None = None,
        older_than: str | float | None = None,
        dry_run: bool = False,
    ) -> int:
        selection = Selection.of(tags=tags, model=model, partition=partition, older_than=older_than)
        return await self.driver.admin.ainvalidate(selection, dry_run)

    def clear(self, *, aux: bool = False) -> None:
        """Delete every entry of this cache's namespace and version, and nothing else; the
        auxiliary store (threshold state, adapters' data) too when `aux`."""
        self.driver.admin.clear(aux)

    async def aclear(self, *, aux: bool = False) -> None:
        await self.driver.admin.aclear(aux)

    def stats(self) -> dict[str, Any]:
        """Counters, latencies and the configuration that explains them."""
        snap = self.driver.admin.snapshot()
        snap["config"]["normalization"] = self.normalizer.describe()
        if self.auditor is not None:
            snap["bound"] = self.auditor.describe()
        return snap

    def close(self) -> None:
        self.driver.admin.close()

    async def aclose(self) -> None:
        """`close`, also closing the asyncio connections of the running loop."""
        await self.driver.admin.aclose()
