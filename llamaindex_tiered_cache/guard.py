"""A broken cache must never break a call: failures are logged once per incident, then ignored."""

from __future__ import annotations

import logging

logger = logging.getLogger("llamaindex_tiered_cache")


class FailureLog:
    """Logs the first failure of an incident at WARNING and the recovery; silent in between."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False
        self.errors = 0

    def failed(self, exc: BaseException, action: str) -> None:
        """Record a failure while doing `action`; the caller carries on without the cache."""
        self.errors += 1
        if not self.failing:
            self.failing = True
            logger.warning(
                "tiered-cache (%s): %s failed, continuing without the cache (%s: %s)",
                self.what,
                action,
                type(exc).__name__,
                exc,
            )

    def ok(self) -> None:
        """Record a success; ends an incident."""
        if self.failing:
            self.failing = False
            logger.warning("tiered-cache (%s): cache recovered", self.what)
