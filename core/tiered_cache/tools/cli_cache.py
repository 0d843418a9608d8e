"""The cache a `tiered-cache` command works on: its settings from the command line and the
environment, where it lives (embedded or shared), and how a command prints its result.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from ..cache import TieredCache
from ..config import CacheConfig
from ..errors import BackendError

EMBEDDED_NOTE = (
    "note: an embedded cache lives inside the process that uses it, so this command sees an\n"
    "empty one; point it at a shared cache with --redis-url or TIERED_CACHE_REDIS_URL"
)
SERVE_EMBEDDED_NOTE = (
    "note: an embedded cache lives inside the process that uses it, so this page can only show\n"
    "this process, which does no lookups. Serve the page from your app with start_server(cache)\n"
    "(see examples/stats_page.py), or share the cache on Redis and pass --redis-url"
)


class CommandError(Exception):
    """A usage problem reported as `tiered-cache: error: ...` with exit status 2."""


# -- helpers ---------------------------------------------------------------------------------------
def _config(args: argparse.Namespace, **overrides: Any) -> CacheConfig:
    given: dict[str, Any] = {}
    if getattr(args, "redis_url", None):
        given["redis_url"] = args.redis_url
    if getattr(args, "namespace", None):
        given["namespace"] = args.namespace
    return CacheConfig.from_env(**given, **overrides)


def _cache(args: argparse.Namespace, **overrides: Any) -> TieredCache:
    config = _config(args, **overrides)
    _reachable(config)
    return TieredCache(config)


def _reachable(config: CacheConfig) -> None:
    """Fail in one line, before a cache is built (whose warnings would say it in many), when the
    configured Redis does not answer."""
    settings = config.redis
    url = settings.url
    if url is None:
        return
    try:
        import redis
    except ImportError:
        raise CommandError(
            "--redis-url needs the redis extra: pip install '.[redis]' in a clone of tiered-cache"
        ) from None
    try:
        probe = redis.Redis.from_url(
            url,
            socket_timeout=max(settings.timeout, 1.0),
            socket_connect_timeout=settings.connect_timeout,
        )
    except ValueError as exc:
        raise CommandError(f"--redis-url {safe_url(url)}: {exc}") from None
    try:
        probe.ping()
    except redis.RedisError as exc:
        raise BackendError(
            f"cannot reach Redis at {safe_url(url)}: {exc} (is it running? e.g. "
            "docker run -p 6379:6379 redis/redis-stack-server; or fix --redis-url / "
            "TIERED_CACHE_REDIS_URL)"
        ) from None
    finally:
        probe.close()


def safe_url(url: str | None) -> str:
    """A Redis URL without its password."""
    return re.sub(r"//[^@/]*@", "//***@", url) if url else "embedded"


def _where(cache: TieredCache) -> str:
    cfg = cache.config
    return f"namespace {cfg.namespace!r} (v{cfg.cache_version}) on {safe_url(cfg.redis_url)}"


def _shared(cache: TieredCache, scan: bool = True) -> dict[str, Any] | None:
    """The counters every process of the namespace shares (Redis); None when embedded."""
    shared = cache.backends.shared
    if shared is None:
        return None
    try:
        return shared.read(scan=scan)
    except Exception as exc:
        raise BackendError(f"cannot read {_where(cache)}: {exc}") from exc


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """A command's result: `data` as JSON under `--json`, else `text` (for plugins too)."""
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


_emit = emit


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
