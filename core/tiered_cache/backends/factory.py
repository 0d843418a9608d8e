"""The backends a configuration asks for: embedded by default, else the backend registered for
the URL's scheme (`redis://`, `rediss://` and `unix://`: Redis, a single server or a cluster).

A new backend registers a builder for its schemes with `register_backend` (see CONTRIBUTING.md,
"How to add a backend"); the builder gets the config and the embedding dimension.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from ..config import CacheConfig
from ..errors import ConfigurationError
from .memory_kv import MemoryAux, MemoryKV
from .memory_vectors import MemoryVectorIndex
from .protocols import Backends

logger = logging.getLogger(__name__)


Builder = Callable[[CacheConfig, int | None], Backends]
"""Makes the backends of a URL: `(config, embedding dimension or None)`."""
_BUILDERS: dict[str, Builder] = {}


def register_backend(schemes: tuple[str, ...], builder: Builder) -> None:
    """Build the backends of URLs with these schemes with `builder` (the last one registered
    for a scheme wins)."""
    for scheme in schemes:
        _BUILDERS[scheme] = builder


def build_backends(
    cfg: CacheConfig, dim: int | None, on_evict: Callable[[str], None] | None = None
) -> Backends:
    """`dim`: the embedding dimension when the semantic tier is on (else None)."""
    if cfg.redis.url is not None:
        scheme = urlsplit(cfg.redis.url).scheme
        builder = _BUILDERS.get(scheme)
        if builder is None:
            known = ", ".join(f"{s}://" for s in sorted(_BUILDERS))
            raise ConfigurationError(f"no backend for {scheme}:// URLs (known: {known})")
        return builder(cfg, dim)
    return _embedded(cfg, dim, on_evict)


def _embedded(
    cfg: CacheConfig, dim: int | None, on_evict: Callable[[str], None] | None
) -> Backends:
    entries = MemoryKV(cfg.storage.max_entries, cfg.storage.max_bytes, on_evict=on_evict)
    vectors = cfg.vectors
    return Backends(
        entries=entries,
        aux=MemoryAux(),
        index=MemoryVectorIndex(
            exact_search_max=vectors.exact_search_max,
            hnsw_m=vectors.hnsw_m,
            hnsw_ef_construction=vectors.hnsw_ef_construction,
            hnsw_ef_runtime=vectors.hnsw_ef_runtime,
        )
        if dim is not None
        else None,
        leases=entries,
    )


def _redis(cfg: CacheConfig, dim: int | None) -> Backends:
    try:
        from .redis.aux import RedisAux
        from .redis.connection import RedisConnection
        from .redis.entries import RedisEntries
        from .redis.index import RedisIndex
    except ImportError as exc:
        raise ConfigurationError(
            "the Redis backend needs redis and redisvl: pip install '.[redis]' in a clone of "
            "tiered-cache (or the wheel's [redis] extra)"
        ) from exc
    settings = cfg.redis
    conn = RedisConnection(settings, cfg.keys)
    keys = conn.keys
    index = None
    if dim is not None and not conn.has_search():
        logger.warning(
            "tiered-cache: %s has no query engine (FT.* commands): exact hits only, the "
            "semantic tier is off. Use Redis Stack >= 7.4, Redis >= 8 or Valkey with "
            "valkey-search for semantic hits, or pass semantic=False to silence this.",
            conn.safe_url,
        )
        dim = None
    if dim is not None:
        index = RedisIndex(conn, dim, cfg.vectors, migrate=settings.migrate_index)
    entries = RedisEntries(conn, index, near_cache_size=settings.near_cache_size)
    from .redis.shared_stats import RedisSharedCounters, RedisStatsSink

    sink = RedisStatsSink(conn.client, keys.stats) if settings.shared_stats else None
    return Backends(
        entries=entries,
        aux=RedisAux(conn),
        index=index,
        shared_index=True,
        leases=entries,
        bulk=entries,
        stats_sink=sink,
        near=entries.near,
        redis=conn,
        shared=RedisSharedCounters(conn),
        kind="redis",
    )


register_backend(("redis", "rediss", "unix"), _redis)
