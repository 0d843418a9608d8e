"""A circuit breaker: stop calling a dead backend, probe it again after a cool-down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed until `failures` consecutive failures; then open for `cooldown` seconds, after
    which one call at a time probes the backend (half-open) until one succeeds."""

    def __init__(
        self, failures: int = 5, cooldown: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """Whether a call may go to the backend now."""
        if self._opened_at is None:  # closed: no lock needed to say so
            return True
        with self._lock:
            if self._opened_at is None:
                return True
            now = self._clock()
            if now - self._opened_at < self.cooldown:
                return False
            self._opened_at = now  # this caller probes; the others wait another cool-down
            return True

    def success(self) -> None:
        if not self._count and self._opened_at is None:  # nothing to reset
            return
        with self._lock:
            self._count = 0
            self._opened_at = None

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self.failures:
                self._opened_at = self._clock()
