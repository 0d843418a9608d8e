"""What a cached call reports to LlamaIndex instrumentation: one `TieredCacheLookupEvent` per call
through a cached LLM, saying which tier answered it (or that it missed) and how similar the
stored question was, so that a handler (or an agent's trace) sees which steps came from the
cache."""

from __future__ import annotations

from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation import get_dispatcher  # llama-index-core's, re-exported there
from tiered_cache import CacheHit

dispatcher = get_dispatcher(__name__)


class TieredCacheLookupEvent(BaseEvent):
    """One call through a cached LLM. `tier`: "exact", "semantic", "coalesced" (answered by
    waiting for a concurrent identical call) or "miss" (the wrapped LLM was called)."""

    tier: str
    similarity: float | None = None
    matched_query: str | None = None
    model: str = ""

    @classmethod
    def class_name(cls) -> str:
        return "TieredCacheLookupEvent"


def tier_of(hit: CacheHit | None) -> str:
    if hit is None:
        return "miss"
    return "coalesced" if hit.coalesced else hit.tier


def report_lookup(hit: CacheHit | None, model: str) -> None:
    """Dispatch the event of one call (within the caller's current span)."""
    dispatcher.event(
        TieredCacheLookupEvent(
            tier=tier_of(hit),
            similarity=None if hit is None else hit.similarity,
            matched_query=None if hit is None else hit.matched_query,
            model=model,
        )
    )
