"""Per-call cache control, shared by the framework wrappers (applied by `calls.py`). A call's
options never reach the model and never join a cache key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequestError
from .invalidation import check_tags
from .request import CacheRequest

OPTION = "tiered_cache"
"""The name a call passes its options under (a keyword, or a key of LangChain's config)."""


@dataclass(frozen=True)
class CallOptions:
    """What one call asks of the cache.

    - `bypass`: skip the lookup; the answer is stored as usual (it replaces any stored one);
    - `refresh`: delete this request's stored answer first, then call the model and store;
    - `no_store`: look up as usual, but never store this call's answer;
    - `threshold`: this call's similarity threshold (e.g. 0.97: only near-identical questions);
    - `ttl`, `sliding`: the stored entry's TTL (seconds) and whether hits restart it;
    - `tags`: the stored entry's tags (`invalidate(tags=...)`).
    """

    bypass: bool = False
    refresh: bool = False
    no_store: bool = False
    threshold: float | None = None
    ttl: float | None = None
    sliding: bool | None = None
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, value: CallOptions | Mapping[str, Any] | None) -> CallOptions:
        """Options from a mapping (`{"bypass": True, "tags": ["doc-7"]}`), checked."""
        if value is None:
            return DEFAULT
        if isinstance(value, CallOptions):
            return value
        if not isinstance(value, Mapping):
            raise InvalidRequestError(
                f"{OPTION}: give a dict such as {{'bypass': True}}, got {type(value).__name__}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise InvalidRequestError(f"{OPTION}: unknown {unknown}; choose from {sorted(names)}")
        for flag in ("bypass", "refresh", "no_store"):
            if not isinstance(value.get(flag, False), bool):
                raise InvalidRequestError(f"{OPTION}: {flag} must be True or False")
        threshold = value.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0.0 < threshold <= 1.0
        ):
            raise InvalidRequestError(f"{OPTION}: threshold must be in (0, 1], got {threshold!r}")
        ttl = value.get("ttl")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0
        ):
            raise InvalidRequestError(f"{OPTION}: ttl must be a positive number of seconds")
        sliding = value.get("sliding")
        if sliding is not None and not isinstance(sliding, bool):
            raise InvalidRequestError(f"{OPTION}: sliding must be True, False or None")
        return cls(
            bypass=value.get("bypass", False),
            refresh=value.get("refresh", False),
            no_store=value.get("no_store", False),
            threshold=None if threshold is None else float(threshold),
            ttl=None if ttl is None else float(ttl),
            sliding=sliding,
            tags=check_tags(value.get("tags")),
        )

    @property
    def looks_up(self) -> bool:
        return not (self.bypass or self.refresh)

    @property
    def stores(self) -> bool:
        return not self.no_store

    def applied(self, request: CacheRequest) -> CacheRequest:
        """The request with this call's threshold (never part of its keys)."""
        if self.threshold is None:
            return request
        return dataclasses.replace(request, threshold=self.threshold)

    def store_kwargs(self) -> dict[str, Any]:
        """Keywords of `TieredCache.store` for this call's entry."""
        return {"ttl": self.ttl, "tags": self.tags, "sliding": self.sliding}


DEFAULT = CallOptions()
