"""The auxiliary store on Redis: plain string keys under the namespace's `a:` prefix, outside
the indexed entries (no hit counters, not counted as entries, not cleared with them)."""

from __future__ import annotations

from typing import Any

from .connection import ERRORS, RedisConnection

_BATCH = 256


class RedisAux:
    errors = ERRORS
    error_packages: tuple[str, ...] = ("redis",)

    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn
        self.keys = conn.keys

    def get(self, key: str) -> bytes | None:
        raw: bytes | None = self.conn.client.get(self.keys.aux(key))
        return None if raw is None else bytes(raw)

    async def aget(self, key: str) -> bytes | None:
        raw = await self.conn.acall("GET", self.keys.aux(key))
        return None if raw is None else bytes(raw)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        px = None if ttl is None else max(1, int(ttl * 1000))
        self.conn.client.set(self.keys.aux(key), value, px=px)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        px = None if ttl is None else max(1, int(ttl * 1000))
        expiry = () if px is None else ("PX", px)
        await self.conn.acall("SET", self.keys.aux(key), value, *expiry)

    def delete(self, key: str) -> bool:
        return bool(self.conn.client.unlink(self.keys.aux(key)))

    async def adelete(self, key: str) -> bool:
        return bool(await self.conn.acall("UNLINK", self.keys.aux(key)))

    def _rows(self, names: list[Any], values: list[Any]) -> list[tuple[str, bytes]]:
        return [
            (self.keys.aux_key_of(n), bytes(v))
            for n, v in zip(names, values, strict=True)
            if v is not None
        ]

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        client = self.conn.client
        names = list(self.conn.node().scan_iter(match=self.keys.pattern("a", prefix), count=1000))
        rows: list[tuple[str, bytes]] = []
        for start in range(0, len(names), _BATCH):
            chunk = names[start : start + _BATCH]
            rows += self._rows(chunk, client.mget(chunk))
        return rows

    async def ascan(self, prefix: str) -> list[tuple[str, bytes]]:
        names = await self.conn.ascan(self.keys.pattern("a", prefix))
        rows: list[tuple[str, bytes]] = []
        for start in range(0, len(names), _BATCH):
            chunk = names[start : start + _BATCH]
            rows += self._rows(chunk, await self.conn.acall("MGET", *chunk))
        return rows

    def clear(self) -> None:
        client = self.conn.client
        names = list(self.conn.node().scan_iter(match=self.keys.pattern("a"), count=1000))
        for start in range(0, len(names), _BATCH):
            client.unlink(*names[start : start + _BATCH])

    async def aclear(self) -> None:
        names = await self.conn.ascan(self.keys.pattern("a"))
        for start in range(0, len(names), _BATCH):
            await self.conn.acall("UNLINK", *names[start : start + _BATCH])
