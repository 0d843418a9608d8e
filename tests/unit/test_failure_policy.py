"""Backend failures are misses that feed the breaker; bugs are logged with their traceback and
counted apart, never opening the breaker."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tiered_cache import Backends, MemoryAux, MemoryKV, TieredCache

from .fake_embedder import MapEmbedder


class Flaky(MemoryKV):
    """An entry store that fails the way a network store does, while `down`."""

    errors = (ConnectionRefusedError,)
    error_packages = ()

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get(self, key: str) -> tuple[bytes, int] | None:
        if self.down:
            raise ConnectionRefusedError("store down")
        return super().get(key)


def cache_on(store: MemoryKV, **settings: Any) -> TieredCache:
    backends = Backends(entries=store, aux=MemoryAux(), leases=store)
    return TieredCache(backends=backends, semantic=False, breaker_failures=3, **settings)


def test_a_backend_failure_is_a_miss_counted_and_fed_to_the_breaker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Flaky()
    cache = cache_on(store)
    req = cache.request("q", model="m")
    cache.store(req, "a")
    store.down = True
    assert [cache.lookup(req) for _ in range(5)] == [None] * 5
    stats = cache.stats()
    assert stats["errors"] == 3 and stats["breaker_skips"] == 2  # open after 3 failures
    assert stats.get("internal_errors", 0) == 0
    assert caplog.text.count("backend failed") == 1  # once per incident


@pytest.mark.internal_errors_expected
def test_a_bug_is_logged_with_its_traceback_and_never_opens_the_breaker(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = TieredCache(embedder=MapEmbedder(), breaker_failures=3)
    req = cache.request("What is the capital of France?", model="m")
    cache.store(req, "Paris.")
    para = cache.request("What's the capital city of France?", model="m")

    def broken(*args: Any, **kwargs: Any) -> tuple[bool | None, float]:
        raise ZeroDivisionError("a bug in the verifier")

    monkeypatch.setattr(cache.plans, "prejudged", broken)
    space = para.partition_key + cache.plans.space  # where the engine files its vectors
    cache.backends.index.add("x", space, cache.embeddings.embed(para.query_text), "x", None)  # type: ignore[union-attr,arg-type]
    with caplog.at_level(logging.ERROR):
        results = [cache.lookup(para) for _ in range(5)]
    assert results == [None] * 5
    stats = cache.stats()
    assert stats["internal_errors"] == 5 and stats.get("errors", 0) == 0
    assert stats.get("breaker_skips", 0) == 0  # the breaker stayed closed
    assert "ZeroDivisionError: a bug in the verifier" in caplog.text  # the traceback
    hit = cache.lookup(req)  # exact hits never reach the broken code
    assert hit is not None and hit.payload == "Paris."


@pytest.mark.internal_errors_expected
def test_an_unknown_plan_operation_is_a_bug_not_a_delete() -> None:
    cache = TieredCache(semantic=False)

    def plan() -> Any:
        yield object()

    assert cache.driver.runner.run(plan(), "fallback") == "fallback"
    assert cache.stats()["internal_errors"] == 1


def raised_in(filename: str, exc: Exception) -> Exception:
    """`exc` raised by code whose frame says it lives in `filename`."""
    try:
        exec(compile("raise exc", filename, "exec"), {"exc": exc})
    except Exception as raised:
        return raised
    raise AssertionError("not raised")


class OnRedis(MemoryKV):
    """An entry store that names the redis client as the package its failures come from."""

    error_packages = ("redis",)


def test_only_the_client_librarys_own_frames_are_backend_failures() -> None:
    redis = pytest.importorskip("redis")
    from pathlib import Path

    import tiered_cache

    cache = cache_on(OnRedis())
    client = Path(redis.__file__).parent / "connection.py"
    ours = Path(tiered_cache.__file__).parent / "backends" / "redis" / "entries.py"
    mapped = cache.driver.edge.mapped(raised_in(str(client), KeyError("in redis-py")))
    assert type(mapped).__name__ == "BackendError"
    # A bug in our own Redis backend (a path with /redis/ in it) stays a bug.
    bug = raised_in(str(ours), KeyError("in tiered_cache.backends.redis"))
    assert cache.driver.edge.mapped(bug) is bug
