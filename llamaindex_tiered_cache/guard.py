"""The adapters' failure log: the core's `Incidents` under this package's logger."""

from __future__ import annotations

import logging

from tiered_cache.observability.incidents import Incidents

logger = logging.getLogger("llamaindex_tiered_cache")


def failure_log(what: str) -> Incidents:
    """Logs the first failure of an incident at WARNING and the recovery; silent in between."""
    return Incidents(what, logger)
