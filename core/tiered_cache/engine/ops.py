"""The I/O steps a plan yields, and the steps of single-flight (get_or_compute, lookups that
lead); plain data, no behaviour."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..backends.protocols import Vector
from ..request import CacheRequest
from .flight import Lead

T = TypeVar("T")


# -- I/O operations (answered by a driver from the backends) ------------------------------------
@dataclass(frozen=True)
class Get:
    """Read an entry: (bytes, hit count) or None."""

    key: str


@dataclass(frozen=True)
class Set:
    key: str
    value: bytes
    ttl: float | None


@dataclass(frozen=True)
class Delete:
    """Delete an entry and its vector."""

    key: str


@dataclass(frozen=True)
class Embed:
    text: str


@dataclass(frozen=True)
class Search:
    partition: str
    vector: Vector
    k: int


@dataclass(frozen=True)
class Add:
    key: str
    partition: str
    vector: Vector
    text: str
    ttl: float | None


@dataclass(frozen=True)
class Write:
    """An entry and, when deterministic, its vector: written together (on Redis in one HSET,
    so that RediSearch indexes the document once)."""

    entry: Set
    vector: Add | None


@dataclass(frozen=True)
class Touch:
    """Restart an entry's TTL (a hit on a sliding entry)."""

    key: str
    ttl: float


@dataclass(frozen=True)
class ReadState:
    """Read a value of the auxiliary store (threshold state): bytes or None."""

    key: str


@dataclass(frozen=True)
class AskJudge:
    """Ask the duplicate judge about a candidate: the verifier's judge term (a float). CPU
    work of a few ms: the async driver runs it off the event loop."""

    query: str
    candidate: str


Op = Get | Delete | Embed | Search | Write | ReadState | Touch | AskJudge
Plan = Generator[Op, Any, T]


# -- the steps of single-flight (threads or tasks waiting, leases, the caller's compute) ---------
@dataclass(frozen=True)
class Lookup:
    """L1 then L2 (`exact_only`: L1 alone), counting nothing (the plan counts the outcome with
    `Observe`)."""

    request: CacheRequest
    exact_only: bool = False


@dataclass(frozen=True)
class Follow:
    """Join the key's flight in this process: the leader gets its `Lead`; the others wait for
    it to land or expire (up to `wait` s) and get None."""

    key: str
    wait: float


@dataclass(frozen=True)
class Observe:
    """Count a lookup's outcome once (exact, semantic, coalesced or miss); hooks see misses."""

    request: CacheRequest
    hit: Any  # CacheHit | None
    started: float


@dataclass(frozen=True)
class Lease:
    key: str
    token: str
    acquire: bool  # else release; a failing backend grants it (nothing to coordinate with)


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Compute:
    pass


@dataclass(frozen=True)
class Served:
    """What get_or_compute returns: the payload, the hit when the cache served it, and the
    usage reported by `compute` when it ran."""

    payload: str
    hit: Any  # CacheHit | None
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Keep:
    """Store a computed answer; one that cannot be stored is still returned."""

    request: CacheRequest
    served: Served
    ttl: float | None


@dataclass(frozen=True)
class Land:
    lead: Lead  # the leader is done: free the key, wake its followers


Step = Lookup | Follow | Observe | Lease | Pause | Compute | Keep | Land


Computed = str | tuple[str, Mapping[str, Any] | None]
"""What `get_or_compute`'s callable returns: a payload, or a payload and its usage."""


def served(computed: Computed) -> Served:
    """What `compute` returned (a payload, or a payload and its usage) as a Served."""
    if isinstance(computed, str):
        return Served(computed, None)
    payload, usage = computed
    return Served(payload, None, usage)
