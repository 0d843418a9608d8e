"""One failure-logging policy for the core and the adapters: the first failure of an incident is
logged at WARNING, the rest silently counted, and the recovery logged, so that a dead backend
yields two log lines, not one per call."""

from __future__ import annotations

import logging
import threading


class Incidents:
    """Logs the first failure of an incident and the recovery; silent in between."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what
        self.logger = logger
        self.failing = False
        self.failures = 0
        self._lock = threading.Lock()

    def failed(self, exc: BaseException, action: str, *, traceback: bool = False) -> None:
        """Record a failure while doing `action`; the caller carries on without the cache."""
        with self._lock:
            self.failures += 1
            first, self.failing = not self.failing, True
        if first:
            self.logger.warning(
                "tiered-cache (%s): %s failed, continuing without the cache (%s: %s)",
                self.what,
                action,
                type(exc).__name__,
                exc,
                exc_info=exc if traceback else None,
            )

    def ok(self) -> None:
        """Record a success; ends an incident."""
        if not self.failing:  # the common case, read without the lock (a bool is atomic)
            return
        with self._lock:
            recovered, self.failing = self.failing, False
        if recovered:
            self.logger.warning("tiered-cache (%s): recovered", self.what)
