"""One Redis connection for a cache's stores: a `redis.Redis` for sync calls, a
`redis.asyncio.Redis` per event loop for async ones, and the Lua scripts they run.

On a Redis Cluster (detected from the server, or `cluster=True`) the clients are
`redis.cluster.RedisCluster` and its asyncio twin. Every key of a namespace carries one hash
tag (`keyspace.py`), and so does its index name, which RediSearch routes like a key: commands,
scripts, pipelines and FT.* all go to the one shard that owns the namespace's slot, and the
client follows MOVED redirects after a failover or a migration. SCAN and the near cache's
tracking connection talk to that shard directly (`node()`, `node_url()`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.exceptions import NoScriptError

from ...config_sections import KeySettings, RedisSettings
from .keyspace import Keyspace, safe_url

logger = logging.getLogger(__name__)

GET_AND_COUNT = """
local r = redis.call('HMGET', KEYS[1], 'd', 'q', 'part')
if not r[1] then return nil end
local hits = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 and ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {r[1], hits, ttl, r[2], r[3]}
"""
ADD_HITS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hits = redis.call('INCRBY', KEYS[2], ARGV[1])
if hits == tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return hits
"""
ADD_VECTOR = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'vec', ARGV[1], 'part', ARGV[2], 'q', ARGV[3])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# One entry and, when given, its vector fields in one HSET (indexed once); a new entry starts
# with no hits; ARGV[1] is its TTL in ms (0: none). A script rather than MULTI: atomic the same
# way, one round trip, and it works alike on a cluster (redis-py's asyncio cluster client does
# not clean up after MULTI pipelines).
WRITE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('UNLINK', KEYS[2])
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1])
else redis.call('PERSIST', KEYS[1]) end
return 1
"""
SCRIPTS = {
    "get": GET_AND_COUNT,
    "add_hits": ADD_HITS,
    "add": ADD_VECTOR,
    "release": RELEASE,
    "write": WRITE,
}
SHAS = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in SCRIPTS.items()}
ERRORS: tuple[type[BaseException], ...] = (redis.RedisError,)
"""What a failing Redis raises (the engine maps these to BackendError)."""


class RedisConnection:
    """Clients and scripts shared by the entry store, the vector index and the aux store."""

    def __init__(self, settings: RedisSettings, keys: KeySettings) -> None:
        if settings.url is None:
            raise ValueError("RedisConnection needs settings with a url (redis_url)")
        url = self.url = settings.url
        self.keys = Keyspace(keys.prefix, keys.namespace, keys.cache_version)
        self.namespace = keys.namespace
        self.client_kwargs: dict[str, Any] = {
            "socket_timeout": settings.timeout,
            "socket_connect_timeout": settings.connect_timeout,
        }
        cluster = settings.cluster
        self.cluster = self._is_cluster(url) if cluster is None else cluster
        self.client: Any
        if self.cluster:
            from redis.cluster import RedisCluster

            self.client = RedisCluster.from_url(url, **self.client_kwargs)
        else:
            self.client_kwargs["retry_on_timeout"] = False
            self.client = redis.Redis.from_url(url, **self.client_kwargs)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _is_cluster(self, url: str) -> bool:
        """Whether the server at `url` is a node of a Redis Cluster (False if it cannot say)."""
        probe = redis.Redis.from_url(url, **self.client_kwargs)
        try:
            return bool(probe.info("cluster").get("cluster_enabled"))
        except redis.RedisError as exc:
            logger.warning(
                "tiered-cache: cannot ask %s whether it is a cluster (%s); assuming a single "
                "server (pass cluster=True for a cluster)",
                safe_url(url),
                exc,
            )
            return False
        finally:
            probe.close()

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def has_search(self) -> bool:
        """Whether the server has the query engine (True when it cannot say now: a server
        that is down at start-up gets its index built when it is back)."""
        try:
            self.node().execute_command("FT._LIST")
        except redis.ResponseError as exc:
            return "unknown command" not in str(exc).lower()
        except redis.RedisError:
            return True
        return True

    def node(self) -> Any:
        """The client of the server that holds the namespace (its shard on a cluster)."""
        if not self.cluster:
            return self.client
        return self.client.get_redis_connection(self.client.get_node_from_key(self.keys.tag_key))

    def node_url(self) -> str:
        """The URL of that server, asked of the cluster now (after a failover it changes)."""
        if not self.cluster:
            return self.url
        from redis.cluster import RedisCluster

        slot = self.client.keyslot(self.keys.tag_key)
        for (start, end), owner in self.client.cluster_slots(
            target_nodes=RedisCluster.RANDOM
        ).items():
            if start <= slot <= end:
                host, port = owner["primary"]
                parts = urlsplit(self.url)
                auth = parts.netloc.rpartition("@")[0]
                netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
                return urlunsplit(parts._replace(netloc=netloc))
        raise redis.RedisError(f"no shard owns slot {slot}")

    def aclient(self) -> Any:
        """The asyncio client of the running loop (a pool is bound to the loop that made it)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            if self.cluster:
                from redis.asyncio.cluster import RedisCluster

                client = RedisCluster.from_url(self.url, **self.client_kwargs)
            else:
                client = redis.asyncio.Redis.from_url(self.url, **self.client_kwargs)
            self._async[loop] = client
        return client

    async def acall(self, *args: Any) -> Any:
        """One command on the asyncio client. On a cluster it is sent as a pipeline of one:
        redis-py 7.1-8.1's asyncio cluster client breaks connections when tasks send plain
        commands concurrently ('NoneType' object has no attribute 'writelines'); pipelines
        take another path that does not."""
        client = self.aclient()
        if not self.cluster:
            return await client.execute_command(*args)
        pipe = client.pipeline(transaction=False)
        pipe.execute_command(*args)
        return (await pipe.execute())[0]

    def pipelined(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Commands of one slot in one round trip (not a transaction)."""
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute())

    async def apipelined(self, *commands: tuple[Any, ...]) -> list[Any]:
        pipe = self.aclient().pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())

    async def ascan(self, pattern: str) -> list[bytes]:
        """The keys matching `pattern` on the server that holds the namespace."""
        import redis.asyncio

        if not self.cluster:
            return [k async for k in self.aclient().scan_iter(match=pattern, count=1000)]
        url = await asyncio.to_thread(self.node_url)  # one round trip, for an admin call
        node = redis.asyncio.Redis.from_url(url, **self.client_kwargs)
        try:
            return [k async for k in node.scan_iter(match=pattern, count=1000)]
        finally:
            await node.aclose()

    @staticmethod
    def script_args(name: str, keys: tuple[str, ...], args: tuple[Any, ...]) -> list[Any]:
        """The EVAL arguments of a script (for pipelines: EVAL loads what EVALSHA may miss)."""
        return ["EVAL", SCRIPTS[name], len(keys), *keys, *args]

    def evalsha(self, name: str, keys: tuple[str, ...], args: tuple[Any, ...] = ()) -> Any:
        """A script by its SHA; loaded on the way when the server lost it (a restart)."""
        try:
            return self.client.execute_command("EVALSHA", SHAS[name], len(keys), *keys, *args)
        except NoScriptError:
            return self.client.execute_command(*self.script_args(name, keys, args))

    async def aevalsha(self, name: str, keys: tuple[str, ...], args: tuple[Any, ...] = ()) -> Any:
        try:
            return await self.acall("EVALSHA", SHAS[name], len(keys), *keys, *args)
        except NoScriptError:
            return await self.acall(*self.script_args(name, keys, args))

    def close(self) -> None:
        self.client.close()
        self._async.clear()

    async def aclose(self) -> None:
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()
