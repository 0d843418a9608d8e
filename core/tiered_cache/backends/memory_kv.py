"""The embedded entry store (LRU + TTL, leases) and the auxiliary store built on it."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryKV:
    """In-process store: true LRU (reads refresh recency) bounded by entries and bytes, per-key TTL.

    Its async methods run inline: there is no I/O to wait for.
    """

    errors: tuple[type[BaseException], ...] = ()  # no I/O: anything raised is a bug
    error_packages: tuple[str, ...] = ()

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        on_evict: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._on_evict = on_evict
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float | None, int]] = OrderedDict()
        self._bytes = 0
        self._leases: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def _drop(self, key: str) -> None:
        value, _, _ = self._data.pop(key)
        self._bytes -= len(value) + len(key)

    def get(self, key: str) -> tuple[bytes, int] | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires, hits = item
            if expires is not None and expires <= self._clock():
                self._drop(key)
                return None
            self._data[key] = (value, expires, hits + 1)
            self._data.move_to_end(key)
            return value, hits + 1

    def peek(self, key: str) -> tuple[bytes, int] | None:
        """Like `get` without counting a hit or refreshing recency (for diagnostics)."""
        with self._lock:
            item = self._data.get(key)
            if item is None or (item[1] is not None and item[1] <= self._clock()):
                return None
            return item[0], item[2]

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        size = len(value) + len(key)
        if size > self.max_bytes:
            return  # larger than the whole cache: never stored, never evicts others
        evicted: list[str] = []
        with self._lock:
            if key in self._data:
                self._drop(key)
            expires = None if ttl is None else self._clock() + ttl
            self._data[key] = (value, expires, 0)
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                oldest = next(iter(self._data))
                self._drop(oldest)
                evicted.append(oldest)
        if self._on_evict is not None:
            for old in evicted:
                self._on_evict(old)

    def delete(self, key: str) -> bool:
        """Remove `key`; whether it was there."""
        with self._lock:
            if key in self._data:
                self._drop(key)
                return True
            return False

    def touch(self, key: str, ttl: float) -> None:
        """Restart the TTL of `key` (if it is still there)."""
        with self._lock:
            item = self._data.get(key)
            if item is not None and (item[1] is None or item[1] > self._clock()):
                self._data[key] = (item[0], self._clock() + ttl, item[2])

    def entries(self) -> list[tuple[str, bytes]]:
        return self.scan("")

    def delete_many(self, keys: list[str]) -> int:
        return sum(self.delete(key) for key in keys)

    async def atouch(self, key: str, ttl: float) -> None:
        self.touch(key, ttl)

    async def aentries(self) -> list[tuple[str, bytes]]:
        return self.entries()

    async def adelete_many(self, keys: list[str]) -> int:
        return self.delete_many(keys)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        now = self._clock()
        with self._lock:
            return [
                (k, v)
                for k, (v, exp, _) in self._data.items()
                if k.startswith(prefix) and (exp is None or exp > now)
            ]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    async def aget(self, key: str) -> tuple[bytes, int] | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def ascan(self, prefix: str) -> list[tuple[str, bytes]]:
        return self.scan(prefix)

    async def aclear(self) -> None:
        self.clear()

    def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        now = self._clock()
        with self._lock:
            held = self._leases.get(name)
            if held is not None and held[1] > now:
                return False
            self._leases[name] = (token, now + ttl_ms / 1000)
            return True

    def release_lease(self, name: str, token: str) -> None:
        with self._lock:
            if self._leases.get(name, ("",))[0] == token:
                del self._leases[name]

    async def aacquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return self.acquire_lease(name, token, ttl_ms)

    async def arelease_lease(self, name: str, token: str) -> None:
        self.release_lease(name, token)

    def close(self) -> None:
        pass


class MemoryAux:
    """The auxiliary store on a MemoryKV of its own: plain bytes by key, no hit counts.

    Its async twins run inline, like MemoryKV's (the documented sync/async edge)."""

    errors: tuple[type[BaseException], ...] = ()
    error_packages: tuple[str, ...] = ()

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._store = MemoryKV(max_entries, max_bytes)

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: str) -> bytes | None:
        raw = self._store.get(key)
        return None if raw is None else raw[0]

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._store.set(key, value, ttl)

    def delete(self, key: str) -> bool:
        return self._store.delete(key)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        return self._store.scan(prefix)

    def clear(self) -> None:
        self._store.clear()

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def ascan(self, prefix: str) -> list[tuple[str, bytes]]:
        return self.scan(prefix)

    async def aclear(self) -> None:
        self.clear()
