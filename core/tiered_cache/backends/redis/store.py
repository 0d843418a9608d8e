"""Redis backend for both tiers: one hash per entry, indexed by a RedisVL HNSW index.

An entry lives at `{prefix}:{namespace}:v{version}:e:{key}` as a hash with the entry JSON (`d`).
Deterministic entries also carry their vector (`vec`), partition (`part`), namespace (`ns`) and
query text (`q`), so the vector expires with its entry and a cluster shards both by namespace.
Its hit count is a plain counter at `...:h:{key}`, made on the first hit with the entry's
remaining TTL: any write to the indexed hash makes RediSearch re-index the whole document,
vector included (measured 0.6 ms of server time per HINCRBY), so a hit never writes to it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson
import redis
from redis.exceptions import NoScriptError, ResponseError

from ...errors import BackendError, SchemaMismatchError
from ..memory_vectors import Match, Vector
from .near import InvalidationListener, NearCache

logger = logging.getLogger(__name__)
SCHEMA_VERSION = 1
WriteItem = tuple[str, bytes, float | None, tuple[str, Vector, str] | None]
"""An entry to write: key, entry JSON, TTL, and (partition, vector, question) or None."""
# Keys per UNLINK and entries per bulk write: deleting or inserting an indexed vector costs the
# server 0.1-0.3 ms (HNSW repair/insert), and no round trip may outlast `redis_timeout` (0.1 s).
_BATCH = 64
_WRITE_CHUNK = 32
_GET_AND_COUNT = """
local d = redis.call('HGET', KEYS[1], 'd')
if not d then return nil end
local hits = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 and ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {d, hits, ttl}
"""
_ADD_HITS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hits = redis.call('INCRBY', KEYS[2], ARGV[1])
if hits == tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return hits
"""
_ADD_VECTOR = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'vec', ARGV[1], 'part', ARGV[2], 'ns', ARGV[3], 'q', ARGV[4])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def _glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_search(raw: Any) -> list[Match]:
    """An FT.SEARCH reply (RESP2 list or RESP3 map) -> matches, nearest first."""
    rows: list[tuple[Any, dict[str, Any]]] = []
    if isinstance(raw, dict):  # RESP3: {results: [{id, extra_attributes: {...}}]}
        for item in raw.get(b"results") or raw.get("results") or []:
            item = {_text(k): v for k, v in item.items()}
            attrs = item.get("extra_attributes") or {}
            rows.append((item["id"], {_text(k): v for k, v in attrs.items()}))
    else:  # RESP2: [total, key, [field, value, ...], ...]
        for i in range(1, len(raw), 2):
            fields = raw[i + 1]
            rows.append(
                (raw[i], {_text(fields[j]): fields[j + 1] for j in range(0, len(fields), 2)})
            )
    return [
        Match(
            key=_text(key).rsplit(":e:", 1)[1],
            similarity=1.0 - float(values["dist"]),
            query_text=_text(values["q"]) if values.get("q") is not None else None,
        )
        for key, values in rows
    ]


class _AsyncConn(NamedTuple):
    client: Any
    get: Any
    add: Any
    release: Any


class RedisStore:
    """Both tiers on Redis Stack / Redis 8: `redis.Redis` for sync calls, `redis.asyncio.Redis`
    (one client per event loop) for async ones, the same commands built once for both."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        prefix: str = "tc",
        cache_version: int = 1,
        timeout: float = 0.1,
        connect_timeout: float = 1.0,
        dim: int | None = None,
        vector_dtype: str = "float32",
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        hnsw_ef_runtime: int = 64,
        migrate: bool = False,
        near_cache_size: int = 0,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.base = f"{prefix}:{namespace}:v{cache_version}:"
        self.index_name = f"{self.base}idx:s{SCHEMA_VERSION}"
        self._schema_key = f"{self.base}schema"
        self._client_kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": connect_timeout,
            "retry_on_timeout": False,
        }
        self.client = redis.Redis.from_url(url, **self._client_kwargs)
        self._get_script = self.client.register_script(_GET_AND_COUNT)
        self._add_script = self.client.register_script(_ADD_VECTOR)
        self._release_script = self.client.register_script(_RELEASE)
        self._add_hits_script = self.client.register_script(_ADD_HITS)
        self.near: NearCache | None = None
        self._listener: InvalidationListener | None = None
        if near_cache_size > 0:
            self.near = NearCache(near_cache_size)
            self._listener = InvalidationListener(
                url, self._client_kwargs, self._ekey(""), self.near, self._add_hits
            )
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncConn] = (
            weakref.WeakKeyDictionary()
        )
        self._dtype = np.float16 if vector_dtype == "float16" else np.float32
        self._ef_runtime = hnsw_ef_runtime
        self.dim = dim
        self._index_spec = (dim, vector_dtype, hnsw_m, hnsw_ef_construction)
        self._index_ready = dim is None
        if dim is not None:
            try:
                self._ensure_index(migrate)
            except BackendError as exc:  # Redis is down: build the index when it is back
                logger.warning("tiered-cache: %s; will retry on first use", exc)

    # -- set-up -------------------------------------------------------------------------------
    def _ensure_index(self, migrate: bool = False) -> None:
        """Create the HNSW index unless it exists with our schema (refuse a different one)."""
        from redisvl.index import SearchIndex
        from redisvl.schema import IndexSchema

        dim, dtype, m, ef_construction = self._index_spec
        fingerprint = {
            "schema": SCHEMA_VERSION,
            "dims": dim,
            "dtype": dtype,
            "m": m,
            "ef_construction": ef_construction,
            "algorithm": "hnsw",
            "metric": "cosine",
        }
        schema = IndexSchema.from_dict(
            {
                "index": {
                    "name": self.index_name,
                    "prefix": f"{self.base}e",
                    "key_separator": ":",
                    "storage_type": "hash",
                },
                "fields": [
                    {"name": "part", "type": "tag"},
                    {"name": "ns", "type": "tag"},
                    {
                        "name": "vec",
                        "type": "vector",
                        "attrs": {
                            "dims": dim,
                            "algorithm": "hnsw",
                            "distance_metric": "cosine",
                            "datatype": dtype,
                            "m": m,
                            "ef_construction": ef_construction,
                        },
                    },
                ],
            }
        )
        index = SearchIndex(schema, redis_client=self.client)
        try:
            exists = index.exists()
            stored = self.client.get(self._schema_key)
            if exists and (stored is None or orjson.loads(stored) != fingerprint):
                if not migrate:
                    raise SchemaMismatchError(
                        f"Redis index {self.index_name!r} exists with schema "
                        f"{_text(stored) if stored else 'unknown'}, "
                        f"this cache needs {fingerprint}; "
                        "pass migrate_index=True to rebuild it (its entries are dropped), "
                        "or use another namespace or cache_version"
                    )
                index.delete(drop=True)
                exists = False
            if not exists:
                index.create(overwrite=False)
                self.client.set(self._schema_key, orjson.dumps(fingerprint))
            self._index_ready = True
        except SchemaMismatchError:
            raise
        except Exception as exc:
            raise BackendError(
                f"cannot create the Redis vector index at {self._safe_url}: {exc}"
            ) from exc

    @property
    def _safe_url(self) -> str:
        return re.sub(r"//[^@/]*@", "//***@", self.url)

    def _aconn(self) -> _AsyncConn:
        """The asyncio client of the running loop (a pool is bound to the loop that made it)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        conn = self._aclients.get(loop)
        if conn is None:
            client = redis.asyncio.Redis.from_url(self.url, **self._client_kwargs)
            conn = _AsyncConn(
                client,
                client.register_script(_GET_AND_COUNT),
                client.register_script(_ADD_VECTOR),
                client.register_script(_RELEASE),
            )
            self._aclients[loop] = conn
        return conn

    def _aclient(self) -> Any:
        return self._aconn().client

    # -- key-value (exact tier) ---------------------------------------------------------------
    def _ekey(self, key: str) -> str:
        return f"{self.base}e:{key}"

    def _hkey(self, key: str) -> str:
        """The hit counter of entry `key` (outside the indexed hash: see the module doc)."""
        return f"{self.base}h:{key}"

    def _got(self, ekey: str, raw: Any, ticket: int | None) -> tuple[bytes, int] | None:
        if raw is None:
            return None
        value, hits = bytes(raw[0]), int(raw[1])
        if self.near is not None:
            self.near.put(ekey, value, hits, int(raw[2]), ticket)
        return value, hits

    def _near_get(self, ekey: str) -> tuple[tuple[bytes, int] | None, int | None]:
        """(the entry served from the near cache, or None and the ticket for the Redis read)"""
        near = self.near
        if near is None:
            return None, None
        return near.get(ekey), near.ticket()

    def _dropped(self, *keys: str) -> None:
        """This process changed these entries: its near copies go now, not when Redis says."""
        if self.near is not None:
            self.near.invalidate([self._ekey(k) for k in keys])

    def _add_hits(self, pending: dict[str, int]) -> None:
        """Hits served by the near cache, added to the shared counters (listener thread)."""
        cut = len(self._ekey(""))
        pipe = self.client.pipeline(transaction=False)
        for ekey, count in pending.items():
            hkey = self._hkey(ekey[cut:])
            self._add_hits_script(keys=[ekey, hkey], args=[count], client=pipe)
        pipe.execute()

    def _set_commands(
        self,
        pipe: Any,
        key: str,
        value: bytes,
        ttl: float | None,
        mapping: dict[str, Any] | None = None,
    ) -> None:
        ekey = self._ekey(key)
        pipe.hset(ekey, mapping=mapping or {"d": value})
        pipe.unlink(self._hkey(key))  # a new entry starts with no hits
        if ttl is None:
            pipe.persist(ekey)
        else:
            pipe.pexpire(ekey, max(1, int(ttl * 1000)))

    def get(self, key: str) -> tuple[bytes, int] | None:
        keys = (self._ekey(key), self._hkey(key))
        near, ticket = self._near_get(keys[0])
        if near is not None:
            return near
        try:  # EVALSHA itself: redis-py's Script.__call__ adds ~15 us to every exact hit
            raw = self.client.execute_command("EVALSHA", self._get_script.sha, 2, *keys)  # type: ignore[no-untyped-call]
        except NoScriptError:  # a restarted or flushed server: Script loads it again
            raw = self._get_script(keys=keys)
        return self._got(keys[0], raw, ticket)

    def peek(self, key: str) -> tuple[bytes, int] | None:
        """Like `get` without counting a hit (for diagnostics)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(self._ekey(key), "d")
        pipe.get(self._hkey(key))
        data, hits = pipe.execute()
        return None if data is None else (bytes(data), int(hits or 0))

    async def aget(self, key: str) -> tuple[bytes, int] | None:
        keys = (self._ekey(key), self._hkey(key))
        near, ticket = self._near_get(keys[0])
        if near is not None:
            return near
        conn = self._aconn()
        try:
            raw = await conn.client.execute_command("EVALSHA", conn.get.sha, 2, *keys)
        except NoScriptError:
            raw = await conn.get(keys=keys, client=conn.client)
        return self._got(keys[0], raw, ticket)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        pipe = self.client.pipeline(transaction=True)
        self._set_commands(pipe, key, value, ttl)
        pipe.execute()
        self._dropped(key)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        pipe = self._aclient().pipeline(transaction=True)
        self._set_commands(pipe, key, value, ttl)
        await pipe.execute()
        self._dropped(key)

    def _write_pipelines(self, client: Any, items: Sequence[WriteItem]) -> Iterator[Any]:
        """MULTI/EXEC pipelines of `_WRITE_CHUNK` entries, each written with its vector in one
        HSET (indexed once), so that no round trip holds the server past the timeout."""
        for start in range(0, len(items), _WRITE_CHUNK):
            pipe = client.pipeline(transaction=True)
            for key, value, ttl, vector in items[start : start + _WRITE_CHUNK]:
                mapping: dict[str, Any] = {"d": value}
                if vector is not None:
                    fields = self._vector_args(*vector)
                    mapping.update(zip(("vec", "part", "ns", "q"), fields, strict=True))
                self._set_commands(pipe, key, value, ttl, mapping)
            yield pipe

    def write_many(self, items: Sequence[WriteItem]) -> None:
        """`set` and `add` of many entries: (key, entry JSON, ttl, (partition, vector, question)
        or None) each, pipelined."""
        if not self._index_ready and any(item[3] is not None for item in items):
            self._ensure_index()
        for pipe in self._write_pipelines(self.client, items):
            pipe.execute()
        self._dropped(*(item[0] for item in items))

    async def awrite_many(self, items: Sequence[WriteItem]) -> None:
        if not self._index_ready and any(item[3] is not None for item in items):
            await asyncio.to_thread(self._ensure_index)
        for pipe in self._write_pipelines(self._aclient(), items):
            await pipe.execute()
        self._dropped(*(item[0] for item in items))

    def delete(self, key: str) -> bool:
        pipe = self.client.pipeline(transaction=False)
        pipe.unlink(self._ekey(key))
        pipe.unlink(self._hkey(key))
        deleted = bool(pipe.execute()[0])
        self._dropped(key)
        return deleted

    async def adelete(self, key: str) -> bool:
        pipe = self._aclient().pipeline(transaction=False)
        pipe.unlink(self._ekey(key))
        pipe.unlink(self._hkey(key))
        deleted = bool((await pipe.execute())[0])
        self._dropped(key)
        return deleted

    def _pattern(self, prefix: str = "", kind: str = "e") -> str:
        return _glob_escape(f"{self.base}{kind}:{prefix}") + "*"

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        keys = list(self.client.scan_iter(match=self._pattern(prefix), count=1000))
        values = self.client.pipeline(transaction=False)
        for k in keys:
            values.hget(k, "d")
        return self._pairs(keys, values.execute() if keys else [])

    async def ascan(self, prefix: str) -> list[tuple[str, bytes]]:
        client = self._aclient()
        keys = [k async for k in client.scan_iter(match=self._pattern(prefix), count=1000)]
        values = client.pipeline(transaction=False)
        for k in keys:
            values.hget(k, "d")
        return self._pairs(keys, await values.execute() if keys else [])

    def _pairs(self, keys: Sequence[bytes], values: Sequence[Any]) -> list[tuple[str, bytes]]:
        cut = len(self._ekey(""))
        return [
            (k.decode()[cut:], bytes(v)) for k, v in zip(keys, values, strict=True) if v is not None
        ]

    def clear(self) -> None:
        batch: list[bytes] = []
        for kind in ("e", "h"):  # entries, then their hit counters
            for k in self.client.scan_iter(match=self._pattern(kind=kind), count=1000):
                batch.append(k)
                if len(batch) >= _BATCH:
                    self.client.unlink(*batch)
                    batch = []
        if batch:
            self.client.unlink(*batch)
        if self.near is not None:
            self.near.invalidate(None)

    async def aclear(self) -> None:
        client = self._aclient()
        batch: list[bytes] = []
        for kind in ("e", "h"):
            async for k in client.scan_iter(match=self._pattern(kind=kind), count=1000):
                batch.append(k)
                if len(batch) >= _BATCH:
                    await client.unlink(*batch)
                    batch = []
        if batch:
            await client.unlink(*batch)
        if self.near is not None:
            self.near.invalidate(None)

    # -- vectors (semantic tier) --------------------------------------------------------------
    def _vector_args(self, partition: str, vector: Vector, query_text: str) -> list[Any]:
        return [vector.astype(self._dtype).tobytes(), partition, self.namespace, query_text]

    def _search_args(self, partition: str, vector: Vector, k: int) -> list[Any]:
        query = f"(@part:{{{partition}}})=>[KNN {k} @vec $B EF_RUNTIME {self._ef_runtime} AS dist]"
        return [
            "FT.SEARCH",
            self.index_name,
            query,
            "PARAMS",
            2,
            "B",
            vector.astype(self._dtype).tobytes(),
            "SORTBY",
            "dist",
            "ASC",
            "RETURN",
            2,
            "dist",
            "q",
            "LIMIT",
            0,
            k,
            "DIALECT",
            2,
        ]

    def add(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None:
        # The vector joins its entry's hash (and so its TTL); a vanished entry gets no vector.
        if not self._index_ready:
            self._ensure_index()
        self._add_script(
            keys=[self._ekey(key)], args=self._vector_args(partition, vector, query_text)
        )

    async def aadd(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None:
        if not self._index_ready:
            await asyncio.to_thread(self._ensure_index)
        conn = self._aconn()
        await conn.add(
            keys=[self._ekey(key)],
            args=self._vector_args(partition, vector, query_text),
            client=conn.client,
        )

    def search(self, partition: str, vector: Vector, k: int) -> list[Match]:
        if not self._index_ready:
            self._ensure_index()
        try:
            raw = self.client.execute_command(*self._search_args(partition, vector, k))  # type: ignore[no-untyped-call]
        except ResponseError as exc:
            return self._index_vanished(exc)
        return _parse_search(raw)

    async def asearch(self, partition: str, vector: Vector, k: int) -> list[Match]:
        if not self._index_ready:
            await asyncio.to_thread(self._ensure_index)
        try:
            raw = await self._aclient().execute_command(*self._search_args(partition, vector, k))
        except ResponseError as exc:
            return self._index_vanished(exc)
        return _parse_search(raw)

    def _index_vanished(self, exc: Exception) -> list[Match]:
        """A dropped index (FLUSHALL, restart without persistence) is rebuilt on the next search."""
        text = str(exc).lower()
        if "no such index" not in text and "unknown index" not in text:
            raise exc
        logger.warning("tiered-cache: Redis index %s vanished; rebuilding it", self.index_name)
        self._index_ready = False
        return []

    # -- leases (get_or_compute across processes) ----------------------------------------------
    def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        return bool(self.client.set(f"{self.base}lease:{name}", token, nx=True, px=ttl_ms))

    async def aacquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        client = self._aclient()
        return bool(await client.set(f"{self.base}lease:{name}", token, nx=True, px=ttl_ms))

    def release_lease(self, name: str, token: str) -> None:
        self._release_script(keys=[f"{self.base}lease:{name}"], args=[token])

    async def arelease_lease(self, name: str, token: str) -> None:
        conn = self._aconn()
        await conn.release(keys=[f"{self.base}lease:{name}"], args=[token], client=conn.client)

    def close(self) -> None:
        if self._listener is not None:  # first: it hands over the near cache's hit counts
            self._listener.close()
        self.client.close()
        self._aclients.clear()

    async def aclose(self) -> None:
        """Close the sync client and the asyncio client of the running loop."""
        conn = self._aclients.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            await conn.client.aclose()
        self.close()
