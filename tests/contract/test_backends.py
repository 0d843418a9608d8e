"""One contract every backend passes: the embedded stores and the Redis ones, sync and async.

A new backend (a cluster, another server) adds a fixture to `backends` and gets the whole suite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import numpy as np
import pytest
from tiered_cache import (
    AuxStore,
    Backends,
    BulkWrites,
    CacheConfig,
    EntryStore,
    Leases,
    Peek,
    SharedCounters,
    VectorIndex,
)
from tiered_cache.backends.factory import build_backends

from ..conftest import BACKENDS_AND_CLUSTER, backend_url

DIM = 8


def unit(*values: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


@pytest.fixture(params=BACKENDS_AND_CLUSTER)
def backends(request: pytest.FixtureRequest) -> Iterator[Backends]:
    settings: dict[str, Any] = {"namespace": f"contract-{uuid.uuid4().hex[:10]}"}
    url = backend_url(request, request.param)
    if url:
        settings.update(redis_url=url, redis_timeout=2.0)
    made = build_backends(CacheConfig(**settings), DIM)
    yield made
    made.entries.clear()
    made.aux.clear()
    made.entries.close()


Run = Callable[[Callable[[], Any], Callable[[], Awaitable[Any]]], Any]


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Run:
    """Calls the sync twin or awaits the async one: each case runs through both."""

    def call(sync: Callable[[], Any], asynchronous: Callable[[], Awaitable[Any]]) -> Any:
        if request.param == "sync":
            return sync()
        return asyncio.run(asynchronous())  # type: ignore[arg-type]

    return call


def test_declares_its_protocols(backends: Backends) -> None:
    assert isinstance(backends.entries, EntryStore)
    assert isinstance(backends.aux, AuxStore)
    assert isinstance(backends.index, VectorIndex)
    assert backends.leases is None or isinstance(backends.leases, Leases)
    assert backends.bulk is None or isinstance(backends.bulk, BulkWrites)
    assert backends.shared is None or isinstance(backends.shared, SharedCounters)
    assert (backends.shared is None) == (backends.kind == "embedded")
    for store in (backends.entries, backends.aux, backends.index):
        assert all(issubclass(e, BaseException) for e in store.errors)


# -- entries --
def test_entries_set_get_counts_hits_delete(backends: Backends, run: Run) -> None:
    e = backends.entries
    run(lambda: e.set("k", b"v1", None), lambda: e.aset("k", b"v1", None))
    assert run(lambda: e.get("k"), lambda: e.aget("k")) == (b"v1", 1)
    assert run(lambda: e.get("k"), lambda: e.aget("k")) == (b"v1", 2)
    run(lambda: e.set("k", b"v2", None), lambda: e.aset("k", b"v2", None))
    assert run(lambda: e.get("k"), lambda: e.aget("k")) == (b"v2", 1)  # a new entry, no hits
    assert run(lambda: e.delete("k"), lambda: e.adelete("k")) is True
    assert run(lambda: e.get("k"), lambda: e.aget("k")) is None
    assert run(lambda: e.delete("k"), lambda: e.adelete("k")) is False


def test_entries_expire(backends: Backends) -> None:
    e = backends.entries
    e.set("short", b"v", 0.2)
    e.set("long", b"w", 60)
    deadline = time.monotonic() + 10
    while e.get("short") is not None:
        assert time.monotonic() < deadline, "the entry never expired"
        time.sleep(0.05)
    assert e.get("long") == (b"w", 1)


def test_peek_counts_no_hit(backends: Backends) -> None:
    e = backends.entries
    assert isinstance(e, Peek)
    e.set("k", b"v", None)
    assert e.peek("k") == (b"v", 0)
    assert e.get("k") == (b"v", 1)
    assert e.peek("k") == (b"v", 1)


def test_clear_takes_entries_only(backends: Backends, run: Run) -> None:
    e, aux = backends.entries, backends.aux
    for i in range(5):
        e.set(f"k{i}", b"v", None)
    aux.set("state", b"s", None)
    run(e.clear, e.aclear)
    assert all(e.get(f"k{i}") is None for i in range(5))
    assert aux.get("state") == b"s"


# -- the auxiliary store --
def test_aux_is_plain_and_apart(backends: Backends, run: Run) -> None:
    aux, e = backends.aux, backends.entries
    run(lambda: aux.set("emb:a", b"1", None), lambda: aux.aset("emb:a", b"1", None))
    run(lambda: aux.set("emb:b", b"2", None), lambda: aux.aset("emb:b", b"2", None))
    run(lambda: aux.set("kv:c", b"3", None), lambda: aux.aset("kv:c", b"3", None))
    assert run(lambda: aux.get("emb:a"), lambda: aux.aget("emb:a")) == b"1"
    rows = run(lambda: aux.scan("emb:"), lambda: aux.ascan("emb:"))
    assert sorted(rows) == [("emb:a", b"1"), ("emb:b", b"2")]
    assert e.get("emb:a") is None  # never an entry
    assert run(lambda: aux.delete("emb:a"), lambda: aux.adelete("emb:a")) is True
    assert aux.get("emb:a") is None
    run(aux.clear, aux.aclear)
    assert aux.scan("") == []


# -- the vector index --
def write(backends: Backends, key: str, partition: str, vector: Any, text: str) -> None:
    """An entry and its vector, as the engine writes them."""
    if backends.bulk is not None:
        backends.bulk.write_many([(key, b"{}", None, (partition, vector, text))])
        return
    backends.entries.set(key, b"{}", None)
    assert backends.index is not None
    backends.index.add(key, partition, vector, text, None)


def test_search_is_prefiltered_by_partition(backends: Backends, run: Run) -> None:
    index = backends.index
    assert index is not None
    write(backends, "near-elsewhere", "p2", unit(1, 0.01), "elsewhere")
    write(backends, "a", "p1", unit(1, 0.2), "question a")
    write(backends, "b", "p1", unit(0.2, 1), "question b")
    query = unit(1, 0.01)
    found = run(lambda: index.search("p1", query, 2), lambda: index.asearch("p1", query, 2))
    assert [m.key for m in found] == ["a", "b"]
    assert found[0].query_text == "question a"
    assert found[0].similarity == pytest.approx(float(unit(1, 0.2) @ query), abs=1e-3)
    assert run(lambda: index.search("p3", query, 2), lambda: index.asearch("p3", query, 2)) == []


def test_deleting_an_entry_takes_its_vector(backends: Backends) -> None:
    index = backends.index
    assert index is not None
    write(backends, "a", "p1", unit(1), "question a")
    backends.entries.delete("a")
    if backends.own_index is not None:
        backends.own_index.delete("a")
    assert index.search("p1", unit(1), 3) == []


# -- leases --
def test_a_lease_is_exclusive_until_released_or_expired(backends: Backends, run: Run) -> None:
    leases = backends.leases
    assert leases is not None
    take = lambda token, ms=30_000: run(  # noqa: E731
        lambda: leases.acquire_lease("job", token, ms),
        lambda: leases.aacquire_lease("job", token, ms),
    )
    assert take("one") is True
    assert take("two") is False
    run(lambda: leases.release_lease("job", "two"), lambda: leases.arelease_lease("job", "two"))
    assert take("two") is False  # only the holder releases
    run(lambda: leases.release_lease("job", "one"), lambda: leases.arelease_lease("job", "one"))
    assert take("two", 100) is True
    deadline = time.monotonic() + 10
    while not take("three"):
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.02)
    leases.release_lease("job", "three")
