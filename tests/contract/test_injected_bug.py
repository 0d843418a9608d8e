"""A bug inside a backend is a bug, not an outage: on every backend, an exception our own
backend code raises is counted as an internal error (logged with its traceback), never as a
backend failure, and never opens the circuit breaker; the call still degrades to a miss."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import pytest
from tiered_cache import TieredCache

from ..conftest import CacheFactory


def bug_in(method: Any, name: str) -> Any:
    """A replacement for `method` whose `raise` runs in the backend's own source file, the way
    a real bug there would (the error edge looks at where an exception was raised)."""
    path = inspect.getsourcefile(method)
    assert path is not None
    body = "async def {0}(*a, **k):\n    raise KeyError('bug in {0}')\n"
    if not inspect.iscoroutinefunction(method):
        body = body.removeprefix("async ")
    scope: dict[str, Any] = {}
    exec(compile(body.format(name), path, "exec"), scope)
    return scope[name]


@pytest.mark.internal_errors_expected
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_bug_in_the_backend_is_an_internal_error_not_an_outage(
    make_cache: CacheFactory,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache: TieredCache = make_cache(semantic=False, breaker_failures=2)
    req = cache.request("What is the boiling point of water at sea level?", model="m")
    assert cache.store(req, "100 degrees Celsius.")
    entries = cache.backends.entries
    name = "get" if mode == "sync" else "aget"
    monkeypatch.setattr(entries, name, bug_in(getattr(entries, name), name))

    def lookup() -> Any:
        return cache.lookup(req) if mode == "sync" else asyncio.run(cache.alookup(req))

    with caplog.at_level(logging.ERROR, logger="tiered_cache"):
        results = [lookup() for _ in range(4)]
    assert results == [None] * 4  # each call degrades to a miss
    stats = cache.stats()
    assert stats["internal_errors"] == 4
    assert stats.get("errors", 0) == 0 and stats.get("breaker_skips", 0) == 0  # no outage
    assert f"KeyError: 'bug in {name}'" in caplog.text  # logged with its traceback
    monkeypatch.undo()
    hit = lookup()
    assert hit is not None and hit.payload == "100 degrees Celsius."
