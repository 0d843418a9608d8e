"""The semantic tier on Redis: a RediSearch HNSW index (created through RedisVL) over the entry
hashes, every k-NN query pre-filtered by partition (a TAG)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import numpy as np
import orjson
from redis.exceptions import ResponseError

from ...config_sections import VectorSettings
from ...errors import BackendError, SchemaMismatchError
from ..protocols import Match, Vector
from .connection import ERRORS, RedisConnection
from .keyspace import KEY_CHARS, SCHEMA_VERSION

logger = logging.getLogger(__name__)
VECTOR_FIELDS = ("vec", "part", "q")  # the index is the namespace's own: no namespace field


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_search(raw: Any, entry_prefix: str) -> list[Match]:
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
    matches = [
        Match(
            key=_text(key)[len(entry_prefix) :],
            similarity=1.0 - float(values["dist"]),
            query_text=_text(values["q"]) if values.get("q") is not None else None,
        )
        for key, values in rows
        if "dist" in values  # a hash that expired between the match and the read comes back bare
    ]
    # Entries of the first layout (64-digit names) are never served: a one-time miss.
    return [m for m in matches if len(m.key) <= KEY_CHARS]


class RedisIndex:
    """HNSW over the entries' vectors. The vector lives in its entry's hash, so deleting or
    expiring the entry removes it: `delete` and `clear` only concern an entry kept without it."""

    errors = ERRORS
    error_packages: tuple[str, ...] = ("redis",)

    def __init__(
        self, conn: RedisConnection, dim: int, settings: VectorSettings, migrate: bool = False
    ) -> None:
        self.conn = conn
        self.keys = conn.keys
        self.name = conn.keys.index_name
        self.dim = dim
        self._dtype = np.float16 if settings.vector_dtype == "float16" else np.float32
        self._ef_runtime = settings.hnsw_ef_runtime
        self._spec = (dim, settings.vector_dtype, settings.hnsw_m, settings.hnsw_ef_construction)
        self._ready = False
        self._ensuring = threading.Lock()  # one creator a process
        try:
            self._ensure(migrate)
        except BackendError as exc:  # Redis is down: build the index when it is back
            logger.warning("tiered-cache: %s; will retry on first use", exc)

    # -- set-up -------------------------------------------------------------------------------
    def _ensure(self, migrate: bool = False) -> None:
        """Create the HNSW index unless it exists with our schema (refuse a different one).

        The schema's fingerprint is written before the index is created, so that another caller
        that finds the index a moment later also finds its fingerprint (threads of this process
        wait on a lock; another process that loses the race to create sees "already exists"
        and checks the fingerprint instead)."""
        with self._ensuring:
            if not self._ready or migrate:
                self._create(migrate)

    def _create(self, migrate: bool) -> None:
        from redisvl.index import SearchIndex
        from redisvl.schema import IndexSchema

        dim, dtype, m, ef_construction = self._spec
        fingerprint = {
            "schema": SCHEMA_VERSION,
            "dims": dim,
            "dtype": dtype,
            "m": m,
            "ef_construction": ef_construction,
            "algorithm": "hnsw",
            "metric": "cosine",
        }
        attrs = {
            "dims": dim,
            "algorithm": "hnsw",
            "distance_metric": "cosine",
            "datatype": dtype,
            "m": m,
            "ef_construction": ef_construction,
        }
        schema = IndexSchema.from_dict(
            {
                "index": {
                    "name": self.name,
                    "prefix": self.keys.entry_prefix.rstrip(":"),
                    "key_separator": ":",
                    "storage_type": "hash",
                },
                "fields": [
                    {"name": "part", "type": "tag"},
                    {"name": "vec", "type": "vector", "attrs": attrs},
                ],
            }
        )
        client = self.conn.client
        index = SearchIndex(schema, redis_client=self.conn.node())  # FT.* of its shard
        try:
            exists = index.exists()
            stored = client.get(self.keys.schema)
            if exists and (stored is None or orjson.loads(stored) != fingerprint):
                if not migrate:
                    raise SchemaMismatchError(
                        f"Redis index {self.name!r} exists with schema "
                        f"{_text(stored) if stored else 'unknown'}, "
                        f"this cache needs {fingerprint}; "
                        "pass migrate_index=True to rebuild it (its entries are dropped), "
                        "or use another namespace or cache_version"
                    )
                index.delete(drop=True)
                exists = False
            if not exists:
                client.set(self.keys.schema, orjson.dumps(fingerprint))
                try:
                    index.create(overwrite=False)
                except Exception as exc:
                    if "already exists" not in str(exc).lower():
                        raise
                    return self._create(migrate=False)  # another process made it: check it
                self._drop_older_indexes()
            self._ready = True
        except SchemaMismatchError:
            raise
        except Exception as exc:
            raise BackendError(
                f"cannot create the Redis vector index at {self.conn.safe_url}: {exc}"
            ) from exc

    def _drop_older_indexes(self) -> None:
        """Indexes of earlier schema versions of this namespace (their documents stay; they are
        entries, which `clear()` deletes)."""
        for version in range(1, SCHEMA_VERSION):
            older = self.name.removesuffix(f"idx:s{SCHEMA_VERSION}") + f"idx:s{version}"
            with contextlib.suppress(ResponseError):
                self.conn.node().execute_command("FT.DROPINDEX", older)

    def ready(self) -> None:
        """Make sure the index exists (it is rebuilt after Redis lost it)."""
        if not self._ready:
            self._ensure()

    async def aready(self) -> None:
        if not self._ready:
            await asyncio.to_thread(self._ensure)

    # -- documents --------------------------------------------------------------------------
    def fields(self, partition: str, vector: Vector, query_text: str) -> dict[str, Any]:
        """The hash fields that put an entry in the index."""
        values = [vector.astype(self._dtype).tobytes(), partition, query_text]
        return dict(zip(VECTOR_FIELDS, values, strict=True))

    def add(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None:
        # The vector joins its entry's hash (and so its TTL); a vanished entry gets no vector.
        self.ready()
        args = tuple(self.fields(partition, vector, query_text).values())
        self.conn.evalsha("add", (self.keys.entry(key),), args)

    async def aadd(
        self, key: str, partition: str, vector: Vector, query_text: str, ttl: float | None
    ) -> None:
        await self.aready()
        args = tuple(self.fields(partition, vector, query_text).values())
        await self.conn.aevalsha("add", (self.keys.entry(key),), args)

    def delete(self, key: str) -> bool:
        return bool(self.conn.client.hdel(self.keys.entry(key), *VECTOR_FIELDS))

    async def adelete(self, key: str) -> bool:
        return bool(await self.conn.acall("HDEL", self.keys.entry(key), *VECTOR_FIELDS))

    def clear(self) -> None:
        """Nothing of its own to clear: the vectors go with their entries."""

    async def aclear(self) -> None:
        """Nothing of its own to clear: the vectors go with their entries."""

    def close(self) -> None:
        """The connection is closed by the entry store that shares it."""

    # -- search -----------------------------------------------------------------------------
    def _search_args(self, partition: str, vector: Vector, k: int) -> list[Any]:
        query = f"(@part:{{{partition}}})=>[KNN {k} @vec $B EF_RUNTIME {self._ef_runtime} AS dist]"
        blob = vector.astype(self._dtype).tobytes()
        return [
            *("FT.SEARCH", self.name, query, "PARAMS", 2, "B", blob, "SORTBY", "dist", "ASC"),
            *("RETURN", 2, "dist", "q", "LIMIT", 0, k, "DIALECT", 2),
        ]

    def search(self, partition: str, vector: Vector, k: int) -> list[Match]:
        self.ready()
        try:
            raw = self.conn.client.execute_command(*self._search_args(partition, vector, k))
        except ResponseError as exc:
            return self._vanished(exc)
        return parse_search(raw, self.keys.entry_prefix)

    async def asearch(self, partition: str, vector: Vector, k: int) -> list[Match]:
        await self.aready()
        try:
            args = self._search_args(partition, vector, k)
            raw = await self.conn.acall(*args)
        except ResponseError as exc:
            return self._vanished(exc)
        return parse_search(raw, self.keys.entry_prefix)

    def _vanished(self, exc: Exception) -> list[Match]:
        """A dropped index (FLUSHALL, restart without persistence) is rebuilt on the next search."""
        text = str(exc).lower()
        if "no such index" not in text and "unknown index" not in text:
            raise exc
        logger.warning("tiered-cache: Redis index %s vanished; rebuilding it", self.name)
        self._ready = False
        return []
