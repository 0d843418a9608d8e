from __future__ import annotations

import numpy as np
from tiered_cache import MemoryVectorIndex


def unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_is_prefiltered_by_partition() -> None:
    rng = np.random.default_rng(0)
    v = unit(rng, 2)
    index = MemoryVectorIndex()
    index.add("near-but-other", "p2", v[0], "q", None)
    index.add("far-but-mine", "p1", v[1], "q1", None)
    got = index.search("p1", v[0], 3)
    assert [m.key for m in got] == ["far-but-mine"]
    assert index.search("p3", v[0], 3) == []


def test_results_sorted_and_exact_similarity() -> None:
    rng = np.random.default_rng(1)
    v = unit(rng, 50)
    index = MemoryVectorIndex()
    for i, row in enumerate(v):
        index.add(f"k{i}", "p", row, f"t{i}", None)
    got = index.search("p", v[7], 5)
    assert got[0].key == "k7"
    assert abs(got[0].similarity - 1.0) < 1e-5
    sims = [m.similarity for m in got]
    assert sims == sorted(sims, reverse=True)
    expected = sorted(range(50), key=lambda i: -float(v[i] @ v[7]))[:5]
    assert [m.key for m in got] == [f"k{i}" for i in expected]


def test_ttl_and_readd() -> None:
    now = [0.0]
    index = MemoryVectorIndex(clock=lambda: now[0])
    rng = np.random.default_rng(2)
    v = unit(rng, 2)
    index.add("a", "p", v[0], "a", ttl=10)
    index.add("a", "p", v[1], "a2", ttl=10)  # re-adding replaces
    assert len(index) == 1
    assert index.search("p", v[1], 2)[0].query_text == "a2"
    now[0] = 11
    assert index.search("p", v[1], 2) == []
    assert len(index) == 0


def test_hnsw_beyond_exact_limit_agrees_with_exact() -> None:
    rng = np.random.default_rng(3)
    v = unit(rng, 600, dim=16)
    exact = MemoryVectorIndex(exact_search_max=10_000)
    approx = MemoryVectorIndex(exact_search_max=100, hnsw_ef_runtime=200)
    for i, row in enumerate(v):
        exact.add(f"k{i}", "p", row, "", None)
        approx.add(f"k{i}", "p", row, "", None)
    assert approx._parts["p"].hnsw is not None
    queries = unit(rng, 40, dim=16)
    agree = sum(exact.search("p", q, 1)[0].key == approx.search("p", q, 1)[0].key for q in queries)
    assert agree >= 38
    approx.delete("k5")
    assert all(m.key != "k5" for m in approx.search("p", v[5], 5))


def test_deleted_rows_are_compacted() -> None:
    rng = np.random.default_rng(4)
    v = unit(rng, 200)
    index = MemoryVectorIndex()
    for i, row in enumerate(v):
        index.add(f"k{i}", "p", row, "", None)
    for i in range(150):
        index.delete(f"k{i}")
    part = index._parts["p"]
    assert len(part.keys) < 200
    assert part.live == 50
    assert index.search("p", v[180], 1)[0].key == "k180"
