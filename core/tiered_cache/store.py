"""The auxiliary store: the public way for adapters (and the core) to keep non-response data.

Embeddings of an embedding cache, ingestion outputs, adaptive-threshold state: bytes by key under
the namespace, outside the indexed entry space (never found by a semantic search, not counted as
entries by `stats`, not deleted by `clear()` unless asked), no hit counting, and the same failure
policy as lookups: with a failing backend a read is a miss and a write is dropped, counted and
logged once per incident; `strict=True` raises `BackendError` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .engine.driver import Driver

T = TypeVar("T")


class AuxiliaryStore:
    """`cache.aux`: get/set/delete/scan/clear and their async twins."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._store = driver.backends.aux

    def _call(self, call: Callable[[], T], fallback: T, strict: bool) -> T:
        if strict:
            with self._driver.edge:
                return call()
        return self._driver.policy.guarded(call, fallback)

    async def _acall(self, call: Callable[[], Awaitable[T]], fallback: T, strict: bool) -> T:
        if strict:
            with self._driver.edge:
                return await call()
        return await self._driver.policy.aguarded(call, fallback)

    def get(self, key: str, *, strict: bool = False) -> bytes | None:
        return self._call(lambda: self._store.get(key), None, strict)

    def set(
        self, key: str, value: bytes, ttl: float | None = None, *, strict: bool = False
    ) -> bool:
        """Whether the value was written."""

        def write() -> bool:
            self._store.set(key, value, ttl)
            return True

        return self._call(write, False, strict)

    def delete(self, key: str, *, strict: bool = False) -> bool:
        """Whether the key existed."""
        return self._call(lambda: self._store.delete(key), False, strict)

    def scan(self, prefix: str = "", *, strict: bool = False) -> list[tuple[str, bytes]]:
        """Every (key, value) whose key starts with `prefix`."""
        return self._call(lambda: self._store.scan(prefix), [], strict)

    def clear(self, *, strict: bool = False) -> None:
        self._call(self._store.clear, None, strict)

    async def aget(self, key: str, *, strict: bool = False) -> bytes | None:
        return await self._acall(lambda: self._store.aget(key), None, strict)

    async def aset(
        self, key: str, value: bytes, ttl: float | None = None, *, strict: bool = False
    ) -> bool:
        async def write() -> bool:
            await self._store.aset(key, value, ttl)
            return True

        return await self._acall(write, False, strict)

    async def adelete(self, key: str, *, strict: bool = False) -> bool:
        return await self._acall(lambda: self._store.adelete(key), False, strict)

    async def ascan(self, prefix: str = "", *, strict: bool = False) -> list[tuple[str, bytes]]:
        return await self._acall(lambda: self._store.ascan(prefix), [], strict)

    async def aclear(self, *, strict: bool = False) -> None:
        await self._acall(self._store.aclear, None, strict)
