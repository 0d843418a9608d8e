"""Single-flight: concurrent misses for the same key in one process wait for one computation.

A caller that joins a key's flight either leads it (and gets a `Lead`, which it must land once
its answer is stored or has failed) or waits for the leader. A lead that is never landed (a
caller that died, a framework that skipped its update after an error) expires after `ttl` s:
the next caller leads in its place.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

SWEEP_AT = 1024
"""Leads in flight at which a join also drops the expired ones (bounded memory when callers
never land, e.g. a framework that skips its update after the model failed)."""


@dataclass(eq=False)
class Lead:
    """One caller's leadership of a key (a thread's, or an asyncio task's)."""

    key: str
    owner: Hashable
    done: threading.Event | asyncio.Event
    expires: float
    slot: Hashable
    token: str | None = None
    """The cross-process lease held with it (released when it lands), if any."""


class Flights:
    """Per-key leadership for threads (`join`) and for asyncio tasks (`ajoin`, per event loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Lead] = {}
        self._owned: dict[tuple[Hashable, str], Lead] = {}

    def _join(
        self,
        slot: Hashable,
        key: str,
        owner: Hashable,
        ttl: float,
        event: Callable[[], threading.Event | asyncio.Event],
    ) -> tuple[bool, Lead]:
        now = time.monotonic()
        with self._lock:
            lead = self._flights.get(slot)
            if lead is not None and lead.owner == owner:
                # The leader asking again (one batch holding the same prompt twice) leads
                # still: waiting for itself would only time out.
                return True, lead
            if lead is not None and lead.expires > now:
                return False, lead
            if lead is not None:  # expired: never landed; its followers look again
                self._forget(lead)
                lead.done.set()
            if len(self._flights) >= SWEEP_AT:
                self._sweep(now)
            lead = Lead(key, owner, event(), now + ttl, slot)
            self._flights[slot] = lead
            self._owned[(owner, key)] = lead
        return True, lead

    def join(self, key: str, ttl: float) -> tuple[bool, Lead]:
        """(True, lead) for the calling thread when it leads (it must `land` the lead);
        else (False, the leader's lead), to wait on its `done` until it lands or expires."""
        return self._join(key, key, threading.get_ident(), ttl, threading.Event)

    def ajoin(self, key: str, ttl: float) -> tuple[bool, Lead]:
        """`join` for the current asyncio task (flights are per event loop; a task's events
        are made and set on its loop's thread)."""
        loop = asyncio.get_running_loop()
        owner = asyncio.current_task() or loop
        return self._join((loop, key), key, owner, ttl, asyncio.Event)

    def _sweep(self, now: float) -> None:
        """Drop the expired leads nobody asked about again (their callers never landed)."""
        for lead in [lead for lead in self._flights.values() if lead.expires <= now]:
            self._forget(lead)
            if isinstance(lead.done, threading.Event):  # an asyncio.Event: only on its loop
                lead.done.set()

    def held(self, key: str, owner: Hashable) -> Lead | None:
        """The lead `owner` (a thread id or an asyncio task) holds on `key`, if any."""
        with self._lock:
            return self._owned.get((owner, key))

    def _forget(self, lead: Lead) -> None:
        if self._flights.get(lead.slot) is lead:
            del self._flights[lead.slot]
        if self._owned.get((lead.owner, lead.key)) is lead:
            del self._owned[(lead.owner, lead.key)]

    def land(self, lead: Lead) -> None:
        """The leader is done: free the key and wake its followers (they look up again)."""
        with self._lock:
            self._forget(lead)
        lead.done.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._flights)
