"""CacheConfig: every setting in one typed, validated object."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigurationError
from .normalize import DYNAMIC_PATTERNS, Normalizer

_NAME = re.compile(r"^[^\s:]{1,128}$")
ENV_PREFIX = "TIERED_CACHE_"


@dataclass(frozen=True)
class CacheConfig:
    """Settings for a TieredCache. Defaults give an embedded exact + semantic cache."""

    namespace: str = "default"
    """Tenant/application name; entries of other namespaces are never visible."""
    prefix: str = "tc"
    """Redis key prefix; keys are `{prefix}:{namespace}:v{cache_version}:...`."""
    cache_version: int = 1
    """Bump to invalidate every entry of the namespace at once."""
    ttl: float | None = None
    """Seconds an entry lives (None: until evicted)."""
    redis_url: str | None = None
    """Use Redis for both tiers when set; embedded in-process backends otherwise."""
    max_entries: int = 10_000
    """Embedded exact tier: LRU bound on entries."""
    max_bytes: int = 256 * 1024 * 1024
    """Embedded exact tier: LRU bound on stored bytes."""
    semantic: bool = True
    """Enable the semantic (L2) tier."""
    threshold: float = 0.90
    """Cosine similarity at or above which a neighbour is served."""
    candidates: int = 4
    """Neighbours fetched per semantic lookup (stale ones are skipped)."""
    max_semantic_temperature: float | None = 0.0
    """Requests hotter than this are exact-only (None: semantic at any temperature)."""
    embedding_model: str | None = None
    """sentence-transformers model name or path; None: the packaged all-MiniLM-L6-v2."""
    embedding_cache_size: int = 10_000
    """Memoized embeddings (LRU)."""
    batch_window_ms: float = 2.0
    """Concurrent async lookups arriving within this window share one encode call."""
    casefold: bool = False
    strip_tokens: tuple[str, ...] = ("timestamp",)
    """Dynamic token kinds removed before keying: uuid, timestamp, date, hex_id."""
    strip_patterns: tuple[str, ...] = ()
    """Extra regexes removed before keying."""
    exact_search_max: int = 2_000
    """Embedded semantic tier: exact search up to this many vectors per partition, HNSW beyond."""
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    hnsw_ef_runtime: int = 64
    vector_dtype: Literal["float32", "float16"] = "float32"
    redis_timeout: float = 0.25
    """Seconds a Redis call may take before it counts as failed (a lookup then misses)."""
    migrate_index: bool = False
    """Rebuild an existing Redis index whose schema differs (its entries are dropped)."""
    max_prompt_chars: int = 1_000_000
    max_payload_bytes: int = 10 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("namespace", "prefix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ConfigurationError(
                    f"{name}={value!r}: use 1-128 characters without whitespace or ':'"
                )
        positive_ints = (
            "cache_version",
            "max_entries",
            "max_bytes",
            "candidates",
            "embedding_cache_size",
            "exact_search_max",
            "hnsw_m",
            "hnsw_ef_construction",
            "hnsw_ef_runtime",
            "max_prompt_chars",
            "max_payload_bytes",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name}={value!r}: must be a positive integer")
        if self.ttl is not None and not (0 < self.ttl <= 10 * 365 * 86400):
            raise ConfigurationError(f"ttl={self.ttl!r}: seconds in (0, 10 years], or None")
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigurationError(f"threshold={self.threshold!r}: must be in (0, 1]")
        if not 0.0 <= self.batch_window_ms <= 1000:
            raise ConfigurationError(f"batch_window_ms={self.batch_window_ms!r}: 0 to 1000")
        if not 0.0 < self.redis_timeout <= 60:
            raise ConfigurationError(f"redis_timeout={self.redis_timeout!r}: seconds in (0, 60]")
        if self.vector_dtype not in ("float32", "float16"):
            raise ConfigurationError(f"vector_dtype={self.vector_dtype!r}: float32 or float16")
        bad = [t for t in self.strip_tokens if t not in DYNAMIC_PATTERNS]
        if bad:
            raise ConfigurationError(
                f"strip_tokens: unknown {bad}; choose from {sorted(DYNAMIC_PATTERNS)}"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigurationError("redis_url must start with redis://, rediss:// or unix://")
        self.normalizer()  # validates the regexes

    def normalizer(self) -> Normalizer:
        return Normalizer(
            casefold=self.casefold, strip=self.strip_tokens, extra_patterns=self.strip_patterns
        )

    def replace(self, **changes: Any) -> CacheConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CacheConfig:
        """Read `TIERED_CACHE_<FIELD>` variables (e.g. TIERED_CACHE_REDIS_URL); kwargs win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(f.name, str(f.type), raw)
        values.update(overrides)
        return cls().replace(**values)


def _parse(name: str, type_text: str, raw: str) -> Any:
    try:
        if raw.strip().lower() in ("", "none", "null") and "None" in type_text:
            return None
        if type_text.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if type_text.startswith("int"):
            return int(raw)
        if type_text.startswith("float"):
            return float(raw)
        if type_text.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return raw
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}={raw!r}: {exc}") from exc


__all__ = ["CacheConfig"]
