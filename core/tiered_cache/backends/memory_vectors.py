"""The embedded vector index: exact NumPy search per partition, hnswlib beyond."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .protocols import Match, Vector


class _Partition:
    """Rows of one partition: a growing matrix for exact search, plus HNSW once it is large."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.matrix = np.zeros((16, dim), dtype=np.float32)
        self.keys: list[str | None] = []
        self.texts: list[str] = []
        self.expires = np.full(16, np.inf)
        self.live = 0
        self.hnsw: Any = None

    def append(self, key: str, vector: Vector, text: str, expires: float) -> int:
        row = len(self.keys)
        if row == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
            self.expires = np.concatenate([self.expires, np.full(len(self.expires), np.inf)])
        self.matrix[row] = vector
        self.expires[row] = expires
        self.keys.append(key)
        self.texts.append(text)
        self.live += 1
        if self.hnsw is not None:
            if row >= self.hnsw.get_max_elements():
                self.hnsw.resize_index(2 * self.hnsw.get_max_elements())
            self.hnsw.add_items(vector[None, :], np.array([row]))
        return row

    def remove(self, row: int) -> None:
        if self.keys[row] is None:
            return
        self.keys[row] = None
        self.expires[row] = -np.inf
        self.live -= 1
        if self.hnsw is not None:
            self.hnsw.mark_deleted(row)


class MemoryVectorIndex:
    """In-process index: exact NumPy search per partition up to `exact_search_max` rows,
    hnswlib beyond."""

    errors: tuple[type[BaseException], ...] = ()  # no I/O: anything raised is a bug
    error_packages: tuple[str, ...] = ()

    def __init__(
        self,
        dim: int | None = None,
        exact_search_max: int = 2_000,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        hnsw_ef_runtime: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dim = dim
        self.exact_search_max = exact_search_max
        self._hnsw_params = (hnsw_m, hnsw_ef_construction, hnsw_ef_runtime)
        self._clock = clock
        self._parts: dict[str, _Partition] = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._where)

    def _build_hnsw(self, part: _Partition) -> None:
        assert self.dim is not None
        import hnswlib  # optional dependency: only large partitions need it

        m, ef_construction, ef_runtime = self._hnsw_params
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(
            max_elements=max(2 * len(part.keys), 1024), ef_construction=ef_construction, M=m
        )
        rows = np.array([i for i, k in enumerate(part.keys) if k is not None])
        index.add_items(part.matrix[rows], rows)
        index.set_ef(ef_runtime)
        part.hnsw = index

    def add(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None:
        if self.dim is None:
            self.dim = int(vector.shape[0])  # read from the first vector: no model load up front
        if vector.shape != (self.dim,):
            raise ValueError(f"vector of shape {vector.shape}, index holds {self.dim} dimensions")
        expires = np.inf if ttl is None else self._clock() + ttl
        with self._lock:
            self._delete_locked(key)
            part = self._parts.get(partition)
            if part is None:
                part = self._parts[partition] = _Partition(self.dim)
            row = part.append(key, vector.astype(np.float32, copy=False), query_text, expires)
            self._where[key] = (partition, row)
            if part.hnsw is None and part.live > self.exact_search_max:
                self._build_hnsw(part)

    def search(self, partition: str, vector: Vector, k: int) -> list[Match]:
        now = self._clock()
        with self._lock:
            part = self._parts.get(partition)
            if part is not None and part.hnsw is None:
                self._purge_expired_locked(part, now)
                part = self._parts.get(partition)
            if part is None or part.live == 0:
                return []
            n = len(part.keys)
            if part.hnsw is not None:
                want = min(part.live, 2 * k)
                labels, distances = part.hnsw.knn_query(vector[None, :], k=want)
                rows = labels[0].astype(int)
                sims = 1.0 - distances[0]
            else:
                all_sims = part.matrix[:n] @ vector
                all_sims[part.expires[:n] == -np.inf] = -np.inf
                top = min(k, n)
                rows = np.argpartition(-all_sims, top - 1)[:top]
                rows = rows[np.argsort(-all_sims[rows])]
                sims = all_sims[rows]
            out: list[Match] = []
            for row, sim in zip(rows.tolist(), sims.tolist(), strict=True):
                key = part.keys[row]
                if key is None or sim == -np.inf:
                    continue
                if part.expires[row] <= now:
                    self._delete_locked(key)
                    continue
                out.append(Match(key=key, similarity=float(sim), query_text=part.texts[row]))
                if len(out) == k:
                    break
            return out

    def _purge_expired_locked(self, part: _Partition, now: float) -> None:
        n = len(part.keys)
        for row in np.nonzero(part.expires[:n] <= now)[0].tolist():
            key = part.keys[row]
            if key is not None:
                self._delete_locked(key)

    def _delete_locked(self, key: str) -> None:
        where = self._where.pop(key, None)
        if where is None:
            return
        name, row = where
        part = self._parts[name]
        part.remove(row)
        if part.live == 0:
            del self._parts[name]
        elif len(part.keys) >= 64 and part.live < len(part.keys) // 2:
            self._compact_locked(name, part)

    def _compact_locked(self, name: str, old: _Partition) -> None:
        """Rebuild a partition without its deleted rows, so churn does not grow memory."""
        part = self._parts[name] = _Partition(old.dim)
        for row, key in enumerate(old.keys):
            if key is not None:
                new_row = part.append(key, old.matrix[row], old.texts[row], old.expires[row])
                self._where[key] = (name, new_row)
        if part.live > self.exact_search_max:
            self._build_hnsw(part)

    def delete(self, key: str) -> bool:
        with self._lock:
            found = key in self._where
            self._delete_locked(key)
            return found

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()
            self._where.clear()

    async def aadd(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None:
        self.add(key, partition, vector, query_text, ttl)

    async def asearch(self, partition: str, vector: Vector, k: int) -> list[Match]:
        return self.search(partition, vector, k)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def aclear(self) -> None:
        self.clear()

    def close(self) -> None:
        pass
