"""Shared fixtures: a real Redis Stack for the whole session, and caches on both backends."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tiered_cache import TieredCache

from .redis_server import RedisStackServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when given, else a Redis Stack started for this session. Under CI a missing
    server fails the test; elsewhere it skips."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    try:
        server = RedisStackServer().start()
    except Exception as exc:
        message = f"no Redis Stack server for the redis tests: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield server.url
    server.stop()


@pytest.fixture
def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


CacheFactory = Callable[..., TieredCache]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_cache(request: pytest.FixtureRequest, namespace: str) -> Iterator[CacheFactory]:
    """A factory of caches on the embedded or the Redis backend (same settings either way)."""
    made: list[TieredCache] = []

    def make(**settings: Any) -> TieredCache:
        settings.setdefault("namespace", namespace)
        if request.param == "redis":
            cache = TieredCache.from_url(request.getfixturevalue("redis_url"), **settings)
        else:
            cache = TieredCache(**settings)
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
