"""Response entries on Redis: one hash per entry, its hit counter beside it, leases, bulk writes,
and the near cache that serves repeats in process.

An entry is a hash with the entry JSON (`d`); deterministic entries also carry their vector
(`vec`), partition (`part`) and question (`q`), so that the vector expires with
its entry (the index, `index.py`, reads those fields). Its hit count is a plain counter made on
the first hit with the entry's remaining TTL: any write to the indexed hash makes RediSearch
re-index the whole document, vector included (measured 0.6 ms of server time per HINCRBY), so a
hit never writes to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from ...request import PARTITION_KEY_CHARS
from ..protocols import WriteItem
from .connection import ERRORS, RedisConnection
from .index import RedisIndex
from .near import InvalidationListener, NearCache

# Keys per UNLINK and entries per bulk write: deleting or inserting an indexed vector costs the
# server 0.1-0.3 ms (HNSW repair/insert), and no round trip may outlast `redis_timeout` (0.1 s).
_BATCH = 64
_WRITE_CHUNK = 32
_SCAN_READS = 256  # entries read per round trip when listing them all


_SHARED = (("query", "q"), ("partition", "part"))
"""Entry JSON fields that an indexed hash holds as index fields already: stored once. (`part`
holds the partition key followed by the embedder's tag: the vector space it is searched in.)"""


def _held(name: str, value: Any) -> str:
    text: str = value.decode() if isinstance(value, bytes) else str(value)
    return text[:PARTITION_KEY_CHARS] if name == "partition" else text


def without_shared(value: bytes, fields: dict[str, Any]) -> bytes:
    """The entry JSON without what the hash holds in its index fields (`q`, `part`)."""
    data = orjson.loads(value)
    if not isinstance(data, dict):
        return value
    dropped = False
    for name, field in _SHARED:
        held = fields.get(field)
        if name in data and held is not None and data[name] == _held(name, held):
            del data[name]
            dropped = True
    return orjson.dumps(data) if dropped else value


def with_shared(data: Any, question: Any, partition: Any = None) -> bytes:
    """The entry JSON as written: what `without_shared` took out put back."""
    value = bytes(data)
    if question is None and partition is None:
        return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value  # corrupt: the reader says so
    if not isinstance(parsed, dict):
        return value
    changed = False
    for (name, _), held in zip(_SHARED, (question, partition), strict=True):
        if held is not None and name not in parsed:
            parsed[name] = _held(name, held)
            changed = True
    return orjson.dumps(parsed) if changed else value


class RedisEntries:
    """The entry store (with leases and bulk writes) of one namespace on Redis."""

    errors = ERRORS
    error_packages: tuple[str, ...] = ("redis",)

    def __init__(
        self, conn: RedisConnection, index: RedisIndex | None = None, near_cache_size: int = 0
    ) -> None:
        self.conn = conn
        self.keys = conn.keys
        self.index = index
        self.near: NearCache | None = None
        self._listener: InvalidationListener | None = None
        if near_cache_size > 0:
            self.near = NearCache(near_cache_size)
            self._listener = InvalidationListener(
                conn.node_url, conn.client_kwargs, self.keys.entry_prefix, self.near, self._add_hits
            )

    # -- reads ----------------------------------------------------------------------------------
    def _got(self, ekey: str, raw: Any, ticket: int | None) -> tuple[bytes, int] | None:
        if raw is None:
            return None
        extra = raw[3:5] if len(raw) > 4 else (None, None)
        value, hits = with_shared(raw[0], *extra), int(raw[1])
        if self.near is not None:
            self.near.put(ekey, value, hits, int(raw[2]), ticket)
        return value, hits

    def _near_get(self, ekey: str) -> tuple[tuple[bytes, int] | None, int | None]:
        """(the entry served from the near cache, or None and the ticket for the Redis read)"""
        near = self.near
        if near is None:
            return None, None
        return near.get(ekey), near.ticket()

    def get(self, key: str) -> tuple[bytes, int] | None:
        keys = (self.keys.entry(key), self.keys.hits(key))
        near, ticket = self._near_get(keys[0])
        if near is not None:
            return near
        if ticket is not None:
            return self._read(keys, self.conn.pipelined(*self._reads(keys)), ticket)
        return self._got(keys[0], self.conn.evalsha("get", keys), ticket)

    async def aget(self, key: str) -> tuple[bytes, int] | None:
        keys = (self.keys.entry(key), self.keys.hits(key))
        near, ticket = self._near_get(keys[0])
        if near is not None:
            return near
        if ticket is not None:
            return self._read(keys, await self.conn.apipelined(*self._reads(keys)), ticket)
        return self._got(keys[0], await self.conn.aevalsha("get", keys), ticket)

    # While the near cache is live, a read is what a plain GET is: read-only commands in one
    # round trip (no script: ~30 us of server time less), and the hit is counted later, with
    # the near cache's own, by its listener. Otherwise the `get` script reads and counts.
    @staticmethod
    def _reads(keys: tuple[str, str]) -> tuple[tuple[Any, ...], ...]:
        return ("HMGET", keys[0], "d", "q", "part"), ("PTTL", keys[0]), ("GET", keys[1])

    def _read(self, keys: tuple[str, str], raw: list[Any], ticket: int) -> tuple[bytes, int] | None:
        (data, question, partition), ttl_ms, hits = raw
        if data is None:
            return None
        near = self.near
        assert near is not None
        value = with_shared(data, question, partition)
        count = int(hits or 0) + near.count_hit(keys[0])
        if int(ttl_ms) != -2:  # -2: deleted between the two reads; its message is on the way
            near.put(keys[0], value, count, int(ttl_ms), ticket)
        return value, count

    def peek(self, key: str) -> tuple[bytes, int] | None:
        """Like `get` without counting a hit (for diagnostics)."""
        pipe = self.conn.client.pipeline(transaction=False)
        pipe.hmget(self.keys.entry(key), "d", "q", "part")
        pipe.get(self.keys.hits(key))
        (data, question, partition), hits = pipe.execute()
        if data is None:
            return None
        pending = 0 if self.near is None else self.near.pending_hits(self.keys.entry(key))
        return with_shared(data, question, partition), int(hits or 0) + pending

    def _add_hits(self, pending: dict[str, int]) -> None:
        """Hits served by the near cache, added to the shared counters (listener thread)."""
        pipe = self.conn.client.pipeline(transaction=False)
        for ekey, count in pending.items():
            hkey = self.keys.hits(self.keys.entry_key_of(ekey))
            pipe.execute_command(*self.conn.script_args("add_hits", (ekey, hkey), (count,)))
        pipe.execute()

    # -- writes ---------------------------------------------------------------------------------
    def _dropped(self, *keys: str) -> None:
        """This process changed these entries: its near copies go now, not when Redis says."""
        if self.near is not None:
            self.near.invalidate([self.keys.entry(k) for k in keys], ours=True)

    def _write_args(
        self, key: str, ttl: float | None, fields: dict[str, Any]
    ) -> tuple[tuple[str, str], tuple[Any, ...]]:
        """The keys and arguments of the `write` script (see connection.WRITE)."""
        ttl_ms = 0 if ttl is None else max(1, int(ttl * 1000))
        flat = [item for pair in fields.items() for item in pair]
        return (self.keys.entry(key), self.keys.hits(key)), (ttl_ms, *flat)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.conn.evalsha("write", *self._write_args(key, ttl, {"d": value}))
        self._dropped(key)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.conn.aevalsha("write", *self._write_args(key, ttl, {"d": value}))
        self._dropped(key)

    def _write_pipelines(self, client: Any, items: Sequence[WriteItem]) -> Iterator[Any]:
        """Pipelines of `_WRITE_CHUNK` entries, each written with its vector in one atomic
        script (indexed once), so that no round trip holds the server past the timeout."""
        for start in range(0, len(items), _WRITE_CHUNK):
            pipe = client.pipeline(transaction=False)
            for key, value, ttl, vector in items[start : start + _WRITE_CHUNK]:
                fields: dict[str, Any] = {"d": value}
                if vector is not None and self.index is not None:
                    fields.update(self.index.fields(*vector))
                    fields["d"] = without_shared(value, fields)
                keys, args = self._write_args(key, ttl, fields)
                pipe.execute_command(*self.conn.script_args("write", keys, args))
            yield pipe

    def _needs_index(self, items: Sequence[WriteItem]) -> bool:
        return self.index is not None and any(item[3] is not None for item in items)

    def write_many(self, items: list[WriteItem]) -> None:
        """Entries with their vectors: (key, entry JSON, ttl, (partition, vector, question) or
        None) each, pipelined."""
        if self._needs_index(items):
            assert self.index is not None
            self.index.ready()
        for pipe in self._write_pipelines(self.conn.client, items):
            pipe.execute()
        self._dropped(*(item[0] for item in items))

    async def awrite_many(self, items: list[WriteItem]) -> None:
        if self._needs_index(items):
            assert self.index is not None
            await self.index.aready()
        for pipe in self._write_pipelines(self.conn.aclient(), items):
            await pipe.execute()
        self._dropped(*(item[0] for item in items))

    def delete(self, key: str) -> bool:
        pipe = self.conn.client.pipeline(transaction=False)
        pipe.execute_command("UNLINK", self.keys.entry(key))  # the vector goes with the hash
        pipe.execute_command("UNLINK", self.keys.hits(key))
        deleted = bool(pipe.execute()[0])
        self._dropped(key)
        return deleted

    async def adelete(self, key: str) -> bool:
        pipe = self.conn.aclient().pipeline(transaction=False)
        pipe.execute_command("UNLINK", self.keys.entry(key))
        pipe.execute_command("UNLINK", self.keys.hits(key))
        deleted = bool((await pipe.execute())[0])
        self._dropped(key)
        return deleted

    # -- sliding TTLs and targeted invalidation ------------------------------------------------
    def touch(self, key: str, ttl: float) -> None:
        """Restart the TTL of an entry and its hit counter (PEXPIRE: the document is not
        re-indexed); its near copy lives as long."""
        ms = max(1, int(ttl * 1000))
        ekey = self.keys.entry(key)
        self.conn.pipelined(("PEXPIRE", ekey, ms, "XX"), ("PEXPIRE", self.keys.hits(key), ms))
        if self.near is not None:
            self.near.touch(ekey, ms)

    async def atouch(self, key: str, ttl: float) -> None:
        ms = max(1, int(ttl * 1000))
        ekey = self.keys.entry(key)
        await self.conn.apipelined(
            ("PEXPIRE", ekey, ms, "XX"), ("PEXPIRE", self.keys.hits(key), ms)
        )
        if self.near is not None:
            self.near.touch(ekey, ms)

    def _scanned(self, names: list[bytes], replies: list[Any]) -> list[tuple[str, bytes]]:
        return [
            (self.keys.entry_key_of(name), with_shared(*reply))
            for name, reply in zip(names, replies, strict=True)
            if reply[0] is not None
        ]

    def entries(self) -> list[tuple[str, bytes]]:
        """Every entry of the namespace (SCAN on its shard, reads pipelined)."""
        names = list(self.conn.node().scan_iter(match=self.keys.pattern("e"), count=1000))
        out: list[tuple[str, bytes]] = []
        for start in range(0, len(names), _SCAN_READS):
            chunk = names[start : start + _SCAN_READS]
            replies = self.conn.pipelined(*(("HMGET", n, "d", "q", "part") for n in chunk))
            out += self._scanned(chunk, replies)
        return out

    async def aentries(self) -> list[tuple[str, bytes]]:
        names = await self.conn.ascan(self.keys.pattern("e"))
        out: list[tuple[str, bytes]] = []
        for start in range(0, len(names), _SCAN_READS):
            chunk = names[start : start + _SCAN_READS]
            replies = await self.conn.apipelined(*(("HMGET", n, "d", "q", "part") for n in chunk))
            out += self._scanned(chunk, replies)
        return out

    def _unlinks(self, keys: list[str]) -> list[tuple[bool, tuple[Any, ...]]]:
        """(counts, UNLINK command) batches: the entries (counted), then their hit counters."""
        out: list[tuple[bool, tuple[Any, ...]]] = []
        for counted, name in ((True, self.keys.entry), (False, self.keys.hits)):
            names = [name(k) for k in keys]
            out += [
                (counted, ("UNLINK", *names[i : i + _BATCH])) for i in range(0, len(names), _BATCH)
            ]
        return out

    def delete_many(self, keys: list[str]) -> int:
        """Delete entries (their vectors and hit counters with them): how many were there."""
        deleted = 0
        for counted, command in self._unlinks(keys):
            removed = int(self.conn.client.execute_command(*command))
            deleted += removed if counted else 0
        self._dropped(*keys)
        return deleted

    async def adelete_many(self, keys: list[str]) -> int:
        deleted = 0
        for counted, command in self._unlinks(keys):
            removed = int(await self.conn.acall(*command))
            deleted += removed if counted else 0
        self._dropped(*keys)
        return deleted

    def clear(self) -> None:
        """Delete every entry and hit counter of the namespace (nothing else); on a cluster,
        SCAN runs on the shard that holds the namespace, and so terminates there."""
        client = self.conn.client
        node = self.conn.node()
        batch: list[bytes] = []
        for kind in ("e", "h"):  # entries, then their hit counters
            for k in node.scan_iter(match=self.keys.pattern(kind), count=1000):
                batch.append(k)
                if len(batch) >= _BATCH:
                    client.unlink(*batch)
                    batch = []
        if batch:
            client.unlink(*batch)
        if self.near is not None:
            self.near.invalidate(None)

    async def aclear(self) -> None:
        for kind in ("e", "h"):
            names = await self.conn.ascan(self.keys.pattern(kind))
            for start in range(0, len(names), _BATCH):
                await self.conn.acall("UNLINK", *names[start : start + _BATCH])
        if self.near is not None:
            self.near.invalidate(None)

    # -- leases (get_or_compute across processes) -------------------------------------------
    def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return bool(self.conn.client.set(self.keys.lease(name), token, nx=True, px=ttl_ms))

    async def aacquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        acquired = await self.conn.acall("SET", self.keys.lease(name), token, "NX", "PX", ttl_ms)
        return bool(acquired)

    def release_lease(self, name: str, token: str) -> None:
        self.conn.evalsha("release", (self.keys.lease(name),), (token,))

    async def arelease_lease(self, name: str, token: str) -> None:
        await self.conn.aevalsha("release", (self.keys.lease(name),), (token,))

    def close(self) -> None:
        if self._listener is not None:  # first: it hands over the near cache's hit counts
            self._listener.close()
        self.conn.close()

    async def aclose(self) -> None:
        """Close the sync client and the asyncio client of the running loop."""
        if self._listener is not None:
            self._listener.close()
        await self.conn.aclose()
