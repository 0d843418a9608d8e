"""Shared fixtures: a real Redis Stack for the whole session, and caches on both backends."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tiered_cache import TieredCache

from .redis_server import RedisStackCluster, RedisStackServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Hermetic: the caller's cache settings never change what a test tests. REDIS_URL and
# REDIS_CLUSTER_URL name servers for the fixtures below and are hidden from everything else
# (the CLI and `CacheConfig.from_env` read REDIS_URL), as are all TIERED_CACHE_* settings.
_GIVEN = {
    name: os.environ.pop(name)
    for name in list(os.environ)
    if name.startswith("TIERED_CACHE_") or name in ("REDIS_URL", "REDIS_CLUSTER_URL")
}


def _servers(variable: str, what: str, make: Callable[[], Any]) -> Iterator[str]:
    """The URL in `variable` when given, else a server `make()` starts for this session. Under
    CI a server that cannot start fails the test; elsewhere it skips."""
    given = _GIVEN.get(variable)
    if given:
        yield given
        return
    try:
        server = make().start()
    except Exception as exc:
        message = f"no {what} for the tests that need one: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL, or a Redis Stack on a free loopback port."""
    yield from _servers("REDIS_URL", "Redis Stack server", RedisStackServer)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """REDIS_CLUSTER_URL, or three Redis Stack primaries joined into a cluster on loopback."""
    yield from _servers("REDIS_CLUSTER_URL", "Redis Stack cluster", RedisStackCluster)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
BACKENDS_AND_CLUSTER = [*BACKENDS, pytest.param("cluster", marks=pytest.mark.redis)]


def backend_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """The Redis URL of a backend parameter (None: embedded)."""
    if backend == "redis":
        return str(request.getfixturevalue("redis_url"))
    if backend == "cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    return None


@pytest.fixture
def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


CacheFactory = Callable[..., TieredCache]


@pytest.fixture(params=BACKENDS_AND_CLUSTER)
def make_cache(request: pytest.FixtureRequest, namespace: str) -> Iterator[CacheFactory]:
    """A factory of caches on the embedded backend, one Redis, or a 3-shard Redis Cluster
    (same settings every way)."""
    made: list[TieredCache] = []
    url = backend_url(request, request.param)

    def make(**settings: Any) -> TieredCache:
        settings.setdefault("namespace", namespace)
        cache = TieredCache.from_url(url, **settings) if url else TieredCache(**settings)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        try:
            cache.clear()
        finally:
            cache.close()


class _InternalErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "tiered_cache_internal", False):
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_internal_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A bug inside the cache degrades to a miss in production; in tests it fails the test
    (unless the test is about that: `@pytest.mark.internal_errors_expected`)."""
    handler = _InternalErrors()
    logger = logging.getLogger("tiered_cache")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("internal_errors_expected") is None:
        first = handler.records[0]
        trace = logging.Formatter().formatException(first.exc_info) if first.exc_info else ""
        pytest.fail(f"tiered-cache logged {len(handler.records)} internal error(s):\n{trace}")
