"""The plan runner: each plain operation of a plan, done on the backends through the error
edge, sync (`run`) and async (`arun`), under the failure policy.

One dispatch table a side maps an operation's type to what does it; a plan is stepped by one
loop a side. Plans never touch a backend themselves (see `engine.plans`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from ..backends.protocols import Backends, Peek, VectorIndex, WriteItem
from ..embeddings.embedder import EmbeddingService
from .edge import ErrorEdge, FailurePolicy
from .ops import AskJudge, Delete, Embed, Get, Op, Plan, ReadState, Search, Touch, Write
from .plans import Plans

T = TypeVar("T")


class Runner:
    """Runs plans on `backends`; the sync and async twins share the plans and the policy."""

    def __init__(
        self,
        backends: Backends,
        embeddings: EmbeddingService | None,
        plans: Plans,
        edge: ErrorEdge,
        policy: FailurePolicy,
    ) -> None:
        self.backends = backends
        self.embeddings = embeddings
        self.plans = plans
        self.edge = edge
        self.policy = policy
        b = backends
        self._sync: dict[type[Any], Callable[[Any], Any]] = {
            Get: lambda op: b.entries.get(op.key),
            Embed: lambda op: cast(EmbeddingService, self.embeddings).embed(op.text),
            Search: lambda op: cast(VectorIndex, b.index).search(op.partition, op.vector, op.k),
            Write: lambda op: self.write([op]),
            ReadState: lambda op: b.aux.get(op.key),
            Touch: lambda op: b.entries.touch(op.key, op.ttl),
            Delete: self._delete,
            AskJudge: self._judge_term,
        }
        self._async: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {
            Get: lambda op: b.entries.aget(op.key),
            Embed: lambda op: cast(EmbeddingService, self.embeddings).aembed(op.text),
            Search: lambda op: cast(VectorIndex, b.index).asearch(op.partition, op.vector, op.k),
            Write: lambda op: self.awrite([op]),
            ReadState: lambda op: b.aux.aget(op.key),
            Touch: lambda op: b.entries.atouch(op.key, op.ttl),
            Delete: self._adelete,
            # CPU work of a few ms: off the event loop
            AskJudge: lambda op: asyncio.get_running_loop().run_in_executor(
                None, self._judge_term, op
            ),
        }

    # -- one operation, at the edge ---------------------------------------------------------------
    def do(self, op: Op) -> Any:
        handler = self._sync.get(type(op))
        if handler is None:
            raise TypeError(f"unknown plan operation {op!r}")
        try:
            return handler(op)
        except Exception as exc:  # the edge inline: a context manager costs a hit 1 us
            raise self.edge.mapped(exc)  # noqa: B904 - `mapped` chains it

    async def ado(self, op: Op) -> Any:
        handler = self._async.get(type(op))
        if handler is None:
            raise TypeError(f"unknown plan operation {op!r}")
        try:
            return await handler(op)
        except Exception as exc:
            raise self.edge.mapped(exc)  # noqa: B904 - `mapped` chains it

    def peek(self, key: str) -> tuple[bytes, int] | None:
        """An entry's bytes and hit count, without counting a hit where the backend allows."""
        entries = self.backends.entries
        with self.edge:  # a failing backend: BackendError
            return entries.peek(key) if isinstance(entries, Peek) else entries.get(key)

    def _judge_term(self, op: AskJudge) -> float:
        verifier = self.plans.verifier
        assert verifier is not None, "a plan asked the judge without a verifier"
        return verifier.judge_term(op.query, op.candidate)

    def _delete(self, op: Delete) -> None:
        self.backends.entries.delete(op.key)
        if self.backends.own_index is not None:
            self.backends.own_index.delete(op.key)

    async def _adelete(self, op: Delete) -> None:
        await self.backends.entries.adelete(op.key)
        if self.backends.own_index is not None:
            await self.backends.own_index.adelete(op.key)

    @staticmethod
    def _items(writes: Sequence[Write]) -> list[WriteItem]:
        return [
            (
                w.entry.key,
                w.entry.value,
                w.entry.ttl,
                None if w.vector is None else (w.vector.partition, w.vector.vector, w.vector.text),
            )
            for w in writes
        ]

    def write(self, writes: Sequence[Write]) -> None:
        """Entries and their vectors: in bulk when the backend can, else one by one, in order
        (an embedded LRU may evict within a batch: its vectors must go with it)."""
        b = self.backends
        if b.bulk is not None:
            b.bulk.write_many(self._items(writes))
            return
        for w in writes:
            b.entries.set(w.entry.key, w.entry.value, w.entry.ttl)
            if w.vector is not None:
                a = w.vector
                cast(VectorIndex, b.index).add(a.key, a.partition, a.vector, a.text, a.ttl)

    async def awrite(self, writes: Sequence[Write]) -> None:
        b = self.backends
        if b.bulk is not None:
            await b.bulk.awrite_many(self._items(writes))
            return
        for w in writes:
            await b.entries.aset(w.entry.key, w.entry.value, w.entry.ttl)
            if w.vector is not None:
                a = w.vector
                await cast(VectorIndex, b.index).aadd(a.key, a.partition, a.vector, a.text, a.ttl)

    # -- a whole plan ---------------------------------------------------------------------------
    def run(self, plan: Plan[T], fallback: T, do: Callable[[Op], Any] | None = None) -> T:
        """The plan's result, or `fallback` when the backend failed (or the breaker is open)."""
        if not self.policy.allow():
            plan.close()
            return fallback
        do = do or self.do
        try:
            result = do(next(plan))
            while True:
                result = do(plan.send(result))
        except StopIteration as stop:
            self.policy.recovered()
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            return self.policy.failed(exc, fallback)

    async def arun(self, plan: Plan[T], fallback: T) -> T:
        if not self.policy.allow():
            plan.close()
            return fallback
        try:
            result = await self.ado(next(plan))
            while True:
                result = await self.ado(plan.send(result))
        except StopIteration as stop:
            self.policy.recovered()
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            return self.policy.failed(exc, fallback)
