"""The near cache: entries read from Redis kept in this process, invalidated by Redis itself.

An exact hit on Redis costs a network round trip (0.1-0.3 ms on loopback, more across a
network). A process that serves the same prompts again can answer from its own memory as long
as it learns at once when any process rewrites, deletes, expires or flushes the entry. Redis's
server-assisted client-side caching tells it: a listener connection turns tracking on in
broadcast mode for this cache's entry prefix, redirected to itself, and subscribes to
`__redis__:invalidate`; every change of a matching key arrives there as a message.

What keeps it correct:
- Only entries read from Redis are kept, with their remaining TTL. A read that raced with an
  invalidation of its key (or of everything) is not kept: each read takes a ticket first.
- It is used only while the listener is subscribed. When the connection drops, everything is
  dropped and lookups go to Redis until the listener is back; after a fork the child never
  uses its parent's copy.
- Hits served here are added to the entries' shared hit counters in Redis about once a second.
A change made by another process reaches this one within the delivery time of one message
(well under a millisecond on a LAN); this process's own writes drop its copy at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import redis

logger = logging.getLogger(__name__)
INVALIDATION_CHANNEL = "__redis__:invalidate"
FLUSH_INTERVAL = 1.0
_RECENT = 4096  # invalidated keys remembered for the race check of reads in flight
_BACKOFF_MAX = 5.0
_all: weakref.WeakSet[NearCache] = weakref.WeakSet()


class NearCache:
    """An LRU of (entry bytes, hit count, expiry) by Redis key, usable only while `live`."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[bytes, int, float | None]] = OrderedDict()
        self._seq = 0  # invalidation messages (and connection changes) seen
        self._recent: deque[tuple[int, str | None]] = deque(maxlen=_RECENT)
        self._pending: dict[str, int] = {}
        self._pid = os.getpid()
        self.live = False
        self.served = 0
        _all.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def ticket(self) -> int | None:
        """Taken before a read from Redis; None: do not keep what the read returns."""
        return self._seq if self.live else None

    def get(self, key: str) -> tuple[bytes, int] | None:
        """The entry and its hit count (this hit included), counting the hit for Redis."""
        if not self.live:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            value, hits, expires = found
            if expires is not None and time.monotonic() >= expires:
                del self._entries[key]
                return None
            self._entries[key] = (value, hits + 1, expires)
            self._entries.move_to_end(key)
            self._pending[key] = self._pending.get(key, 0) + 1
            self.served += 1
            return value, hits + 1

    def count_hit(self, key: str) -> int:
        """A hit read from Redis itself, counted with the near cache's (the listener adds
        them to the shared counter in one pipeline a second): the hits of `key` not yet
        added, this one included."""
        with self._lock:
            pending = self._pending[key] = self._pending.get(key, 0) + 1
            return pending

    def touch(self, key: str, ttl_ms: int) -> None:
        """The near copy of a sliding entry lives as long as its restarted TTL."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries[key] = (found[0], found[1], time.monotonic() + ttl_ms / 1000)

    def pending_hits(self, key: str) -> int:
        """Hits of `key` served or read here and not yet added to the shared counter."""
        with self._lock:
            return self._pending.get(key, 0)

    def put(self, key: str, value: bytes, hits: int, ttl_ms: int, ticket: int | None) -> None:
        """Keep an entry just read from Redis (`ttl_ms` < 0: no expiry), unless its key (or
        everything) was invalidated since `ticket` was taken."""
        if ticket is None or ttl_ms == 0:
            return
        with self._lock:
            if not self.live or self._invalidated_since(key, ticket):
                return
            expires = None if ttl_ms < 0 else time.monotonic() + ttl_ms / 1000
            self._entries[key] = (value, hits, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _invalidated_since(self, key: str, ticket: int) -> bool:
        if self._seq == ticket:
            return False
        if not self._recent or self._recent[0][0] > ticket + 1:
            return True  # the record of what changed does not reach back that far
        return any(seq > ticket and k in (key, None) for seq, k in reversed(self._recent))

    def invalidate(self, keys: list[str] | None, ours: bool = False) -> None:
        """Drop `keys` (None: everything), as a message from Redis or a write of ours says. A
        write of ours also drops their hits not yet counted (the new entry has none); a message
        does not: it may arrive after this process has read the new entry and counted a hit."""
        with self._lock:
            self._seq += 1
            if keys is None:
                self._entries.clear()
                self._recent.append((self._seq, None))
                return
            for key in keys:
                self._entries.pop(key, None)
                if ours:
                    self._pending.pop(key, None)
                self._recent.append((self._seq, key))

    def set_live(self, live: bool) -> None:
        """Start (subscribed) or stop (connection lost) serving; either way start empty."""
        with self._lock:
            self.live = live and self._pid == os.getpid()
            self._entries.clear()
            self._seq += 1
            self._recent.append((self._seq, None))

    def take_pending(self) -> dict[str, int]:
        """Hits served since the last call, by key (for the shared counters)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            return pending

    def _forked(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self.live = False
        self._entries.clear()
        self._pending.clear()


def _after_fork_in_child() -> None:
    for near in list(_all):
        near._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


class InvalidationListener:
    """A daemon thread that keeps `near` live while it is subscribed to invalidations of keys
    starting with `prefix`, reconnecting with back-off, and hands hits served from `near` to
    `flush_hits` about once a second. It holds its owner only weakly, through `flush_hits`.

    `where()` names the server that holds those keys (on a cluster, the shard that owns the
    namespace's slot): asked at each connection and once a second, so that after a failover or
    a slot migration the listener moves to the new owner (its copies dropped on the way)."""

    def __init__(
        self,
        where: Callable[[], str],
        client_kwargs: dict[str, Any],
        prefix: str,
        near: NearCache,
        flush_hits: Callable[[dict[str, int]], None],
    ) -> None:
        self.where = where
        self.url = ""
        self.prefix = prefix
        self.near = near
        # RESP2: the invalidations come as Pub/Sub messages. Waits for them use their own timeout.
        self._client_kwargs = {**client_kwargs, "protocol": 2, "socket_timeout": 5.0}
        self._flush_hits: Callable[[], Callable[[dict[str, int]], None] | None]
        if hasattr(flush_hits, "__self__"):
            self._flush_hits = weakref.WeakMethod(flush_hits)
        else:
            self._flush_hits = lambda: flush_hits
        self._stop = threading.Event()
        self._conn: Any = None
        self.connected = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"tiered-cache-near:{prefix}", daemon=True
        )
        self._thread.start()

    def _connect(self) -> Any:
        self.url = self.where()
        pool = redis.ConnectionPool.from_url(self.url, **self._client_kwargs)
        conn = pool.connection_class(**pool.connection_kwargs)  # TLS, AUTH, unix: as the URL says
        conn.connect()
        conn.send_command("CLIENT", "ID")
        client_id = conn.read_response()
        conn.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self.prefix
        )
        conn.read_response()
        conn.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
        conn.read_response()
        return conn

    def _run(self) -> None:
        backoff = 0.1
        failing = False
        while not self._stop.is_set():
            try:
                self._conn = self._connect()
                self.near.set_live(True)
                self.connected.set()
                if failing:
                    logger.warning("tiered-cache: near cache back on (%s)", self.prefix)
                failing, backoff = False, 0.1
                self._listen(self._conn)
            except redis.ResponseError as exc:  # tracking refused: this server cannot do it
                logger.warning("tiered-cache: near cache off: Redis refused tracking: %s", exc)
                self._stop.set()
            except Exception as exc:  # connection lost or refused: go to Redis until it is back
                if not self._stop.is_set() and not failing:
                    logger.warning("tiered-cache: near cache paused (%s): %s", self.prefix, exc)
                failing = True
            finally:
                self.connected.clear()
                self.near.set_live(False)
                self._close_conn()
            self._stop.wait(backoff)
            backoff = min(_BACKOFF_MAX, backoff * 2)
        self._flush()

    def _listen(self, conn: Any) -> None:
        due = time.monotonic() + FLUSH_INTERVAL
        while not self._stop.is_set():
            if conn.can_read(timeout=max(0.0, due - time.monotonic())):
                message = conn.read_response()
                if message[0] == b"message":
                    keys = message[2]
                    self.near.invalidate(None if keys is None else [k.decode() for k in keys])
            if time.monotonic() >= due:
                due = time.monotonic() + FLUSH_INTERVAL
                if not self._flush():
                    return  # the owner is gone
                if self._moved():
                    raise ConnectionError(f"the keys moved away from {self.url}")

    def _moved(self) -> bool:
        try:
            return self.where() != self.url
        except Exception:  # the cluster cannot say now: keep listening where we are
            return False

    def _flush(self) -> bool:
        flush = self._flush_hits()
        if flush is None:
            self._stop.set()
            return False
        pending = self.near.take_pending()
        if pending:
            try:
                flush(pending)
            except Exception as exc:  # counters are best effort: never a reason to stop
                logger.debug("tiered-cache: near cache hit counts not flushed: %s", exc)
        return True

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken socket
                conn.disconnect()

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:  # wake the thread out of its wait for a message
            with contextlib.suppress(Exception):
                conn.disconnect()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self.near.set_live(False)
