"""Background loads (the embedding model, the duplicate judge) that the interpreter waits for at
exit, up to `EXIT_WAIT` seconds.

A load runs in a daemon thread so that a cache is usable at once. A daemon thread still inside
ONNX Runtime's session constructor when the interpreter finalizes kills the process
("terminate called without an active exception", SIGABRT): a script that builds a cache and
exits at once must not. The wait runs before the interpreter joins its threads and before any
`atexit` handler, while every module is still intact.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)
EXIT_WAIT = 30.0
"""Seconds an exiting interpreter waits, in all, for the loads still running (a load takes ~1 s)."""

_lock = threading.Lock()
_running: set[threading.Thread] = set()


def start(target: Callable[[], None], name: str) -> threading.Thread:
    """Run `target` in a daemon thread that an exiting interpreter waits for (bounded)."""

    def run() -> None:
        try:
            target()
        finally:
            with _lock:
                _running.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _lock:
        _running.add(thread)
    thread.start()
    return thread


def join_running(timeout: float = EXIT_WAIT) -> bool:
    """Wait (up to `timeout` s in all) for the loads still running; True when none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            left = [t for t in _running if t.is_alive()]
        if not left:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logger.warning(
                "tiered-cache: exiting while %s still runs", ", ".join(t.name for t in left)
            )
            return False
        left[0].join(remaining)


def _register() -> None:
    # `threading._register_atexit` runs before the interpreter joins its threads and before the
    # `atexit` handlers (concurrent.futures uses it for the same reason); `atexit` otherwise.
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(join_running)
            return
    except RuntimeError:  # imported while the interpreter is already shutting down
        return
    atexit.register(join_running)


_register()
