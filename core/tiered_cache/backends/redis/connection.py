"""One Redis connection for a cache's stores: a `redis.Redis` for sync calls, a
`redis.asyncio.Redis` per event loop for async ones, and the Lua scripts they run."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis
from redis.exceptions import NoScriptError

from .keyspace import Keyspace, safe_url

GET_AND_COUNT = """
local d = redis.call('HGET', KEYS[1], 'd')
if not d then return nil end
local hits = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 and ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {d, hits, ttl}
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
redis.call('HSET', KEYS[1], 'vec', ARGV[1], 'part', ARGV[2], 'ns', ARGV[3], 'q', ARGV[4])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
SCRIPTS = {"get": GET_AND_COUNT, "add_hits": ADD_HITS, "add": ADD_VECTOR, "release": RELEASE}
ERRORS: tuple[type[BaseException], ...] = (redis.RedisError,)
"""What a failing Redis raises (the engine maps these to BackendError)."""


class RedisConnection:
    """Clients and scripts shared by the entry store, the vector index and the aux store."""

    def __init__(
        self,
        url: str,
        keys: Keyspace,
        namespace: str,
        timeout: float = 0.1,
        connect_timeout: float = 1.0,
    ) -> None:
        self.url = url
        self.keys = keys
        self.namespace = namespace
        self.client_kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": connect_timeout,
            "retry_on_timeout": False,
        }
        self.client = redis.Redis.from_url(url, **self.client_kwargs)
        self.scripts = {name: self.client.register_script(src) for name, src in SCRIPTS.items()}
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, dict[str, Any]]
        ] = weakref.WeakKeyDictionary()

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def aconn(self) -> tuple[Any, dict[str, Any]]:
        """The asyncio client of the running loop and its scripts (a pool is bound to the loop
        that made it)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        conn = self._async.get(loop)
        if conn is None:
            client = redis.asyncio.Redis.from_url(self.url, **self.client_kwargs)
            conn = (client, {name: client.register_script(s) for name, s in SCRIPTS.items()})
            self._async[loop] = conn
        return conn

    def aclient(self) -> Any:
        return self.aconn()[0]

    def evalsha(self, name: str, keys: tuple[str, ...]) -> Any:
        """A script by its SHA (redis-py's Script.__call__ adds ~15 us to every exact hit)."""
        script = self.scripts[name]
        try:
            return self.client.execute_command("EVALSHA", script.sha, len(keys), *keys)  # type: ignore[no-untyped-call]
        except NoScriptError:  # a restarted or flushed server: Script loads it again
            return script(keys=keys)

    async def aevalsha(self, name: str, keys: tuple[str, ...]) -> Any:
        client, scripts = self.aconn()
        try:
            return await client.execute_command("EVALSHA", scripts[name].sha, len(keys), *keys)
        except NoScriptError:
            return await scripts[name](keys=keys, client=client)

    def close(self) -> None:
        self.client.close()
        self._async.clear()

    async def aclose(self) -> None:
        conn = self._async.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            await conn[0].aclose()
        self.close()
