"""Single-flight: concurrent misses for the same key in one process wait for one computation."""

from __future__ import annotations

import asyncio
import threading


class Flights:
    """Per-key leadership for threads (`join`) and for asyncio tasks (`ajoin`, per event loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Event] = {}
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Event] = {}

    def join(self, key: str) -> tuple[bool, threading.Event]:
        """(True, event) for the leader, who must call `done`; (False, event) to wait on."""
        with self._lock:
            event = self._threads.get(key)
            if event is not None:
                return False, event
            event = self._threads[key] = threading.Event()
            return True, event

    def done(self, key: str) -> None:
        with self._lock:
            event = self._threads.pop(key, None)
        if event is not None:
            event.set()

    def ajoin(self, key: str) -> tuple[bool, asyncio.Event]:
        slot = (asyncio.get_running_loop(), key)
        event = self._tasks.get(slot)
        if event is not None:
            return False, event
        event = self._tasks[slot] = asyncio.Event()
        return True, event

    def adone(self, key: str) -> None:
        event = self._tasks.pop((asyncio.get_running_loop(), key), None)
        if event is not None:
            event.set()
