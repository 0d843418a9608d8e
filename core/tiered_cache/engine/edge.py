"""The error edge and the failure policy: what a backend failure is, and what it costs a call.

`ErrorEdge` maps exceptions where the cache calls a backend (httpcore's `map_exceptions`
pattern): the exception types a backend names in `errors`, connection errors, and anything
raised inside the backend's installed client library (matched by where the library lives, never
by a fragment of a path) become `BackendError`. Anything else is a bug and passes unchanged.

`FailurePolicy` decides what a failed call becomes: a bad request raises, a backend failure is
a miss (counted, logged once per incident, fed to the circuit breaker), a bug is a miss logged
with its traceback and counted as an internal error, never opening the breaker.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TypeVar

from ..errors import BackendError, InvalidRequestError
from ..observability.incidents import Incidents
from ..observability.stats import Stats
from .breaker import CircuitBreaker

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Failures of the network or the OS are backend failures whatever the backend says.
IO_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


class ErrorEdge:
    """`with edge:` turns the backend failures raised inside into `BackendError`."""

    def __init__(self, errors: Iterable[type[BaseException]], packages: Iterable[str]) -> None:
        self.errors = tuple(dict.fromkeys([*IO_ERRORS, *errors]))
        self.package_dirs = package_dirs(dict.fromkeys(packages))

    def mapped(self, exc: Exception) -> Exception:
        """What to raise for `exc`: a backend failure becomes `BackendError` (chained to
        `exc`); anything else is itself."""
        if isinstance(exc, (BackendError, InvalidRequestError)):
            return exc
        if isinstance(exc, self.errors) or self.raised_by_client(exc):
            error = BackendError(f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return error
        return exc

    def raised_by_client(self, exc: BaseException) -> bool:
        """Whether `exc` was raised inside a backend's client library."""
        tb = exc.__traceback__
        if tb is None or not self.package_dirs:
            return False
        while tb.tb_next is not None:
            tb = tb.tb_next
        filename = os.path.realpath(tb.tb_frame.f_code.co_filename)
        return filename.startswith(self.package_dirs)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, Exception):
            mapped = self.mapped(exc)
            if mapped is not exc:
                raise mapped


class FailurePolicy:
    """What a failed call becomes, and the circuit breaker that skips a backend that is down."""

    def __init__(self, stats: Stats, breaker: CircuitBreaker, edge: ErrorEdge) -> None:
        self.stats = stats
        self.breaker = breaker
        self.edge = edge
        self.incidents = Incidents("core", logger)

    def allow(self) -> bool:
        """Whether to try the backend now (False while the breaker is open: counted)."""
        if self.breaker.allow():
            return True
        self.stats.incr("breaker_skips")
        return False

    def failed(self, exc: Exception, fallback: T) -> T:
        """A bad request raises, a backend failure is a miss, a bug is a miss logged with its
        traceback."""
        if isinstance(exc, InvalidRequestError):
            raise exc
        if isinstance(exc, BackendError):
            self.backend_failed(exc)
        else:
            self.stats.incr("internal_errors")
            logger.error(
                "tiered-cache: internal error, serving a miss (please report it)",
                exc_info=exc,
                extra={"tiered_cache_internal": True},
            )
        return fallback

    def backend_failed(self, exc: Exception) -> None:
        self.stats.incr("errors")
        self.breaker.failure()
        self.incidents.failed(exc, "backend")

    def recovered(self) -> None:
        self.breaker.success()
        self.incidents.ok()

    def guarded(self, call: Callable[[], T], fallback: T) -> T:
        """`call()` at the edge under the policy (auxiliary reads and writes)."""
        if not self.allow():
            return fallback
        try:
            with self.edge:
                result = call()
        except Exception as exc:
            return self.failed(exc, fallback)
        self.recovered()
        return result

    async def aguarded(self, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        if not self.allow():
            return fallback
        try:
            with self.edge:
                result = await call()
        except Exception as exc:
            return self.failed(exc, fallback)
        self.recovered()
        return result


def package_dirs(names: Iterable[str]) -> tuple[str, ...]:
    """The directories the client packages `names` are installed in (with a trailing
    separator): an exception raised in them is the backend's failure. Matched by where the
    package lives, not by a name in the path (our own `backends/redis/` is not `redis`)."""
    dirs: list[str] = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(os.path.join(os.path.realpath(location), ""))
    return tuple(dirs)
