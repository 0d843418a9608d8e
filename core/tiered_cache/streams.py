"""Streamed answers: a model's stream recorded on its way to the caller and stored once whole,
and a stored answer replayed as a stream. The chunks are the framework's own objects; the
adapter says how a finished stream is encoded, and how a hit is cut into chunks."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Generator, Iterable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Generic, TypeVar

from .calls import CallCache, Encoded
from .options import DEFAULT, CallOptions
from .request import CacheRequest

T = TypeVar("T")

_PIECE = re.compile(r"\s*\S+\s*|\s+")


def replay_pieces(text: str) -> list[str]:
    """`text` cut into the pieces a hit is replayed in as a stream: a word and the space after
    it, about what a provider streams per chunk. Joined, they give `text` back exactly."""
    return _PIECE.findall(text) or [text]


def replay(chunks: Iterable[T]) -> Generator[T, None, None]:
    """A stored answer's chunks as a stream (a generator, as a model's stream is)."""
    yield from chunks


async def areplay(chunks: Iterable[T]) -> AsyncGenerator[T, None]:
    """`replay` as an async stream."""
    for chunk in chunks:
        yield chunk


class StreamRecorder(Generic[T]):
    """Passes a model's stream through to the caller and stores the whole answer once the
    stream has been consumed to its end (`encode(chunks)`, under the call's options).

    Nothing is stored of a stream that raises, is abandoned halfway or yields nothing; a
    failure of the cache while storing (or of `encode`) is the adapter's guard's to log and
    never reaches the caller, who has had every chunk by then. `landing` (a call's single
    flight, see `CallCache.flight`) is exited when the stream ends, whichever way it ends.
    """

    __slots__ = ("calls", "encode", "options", "request")

    def __init__(
        self,
        calls: CallCache,
        request: CacheRequest | None,
        encode: Callable[[list[T]], Encoded | None],
        options: CallOptions = DEFAULT,
    ) -> None:
        self.calls = calls
        self.request = request
        self.encode = encode
        self.options = options

    def _finished(
        self, chunks: list[T]
    ) -> tuple[CacheRequest, Callable[[], Encoded | None]] | None:
        """What to store of a stream that ended with `chunks`: (its request, its encoder), or
        None for nothing (a call the cache refused, an empty stream)."""
        if self.request is None or not chunks:
            return None
        return self.request, lambda: self.encode(chunks)

    def record(
        self, stream: Iterable[T], landing: AbstractContextManager[Any] | None = None
    ) -> Generator[T, None, None]:
        """`stream`, chunk by chunk; its answer stored after the last one."""
        with landing or contextlib.nullcontext():
            chunks: list[T] = []
            for chunk in stream:
                chunks.append(chunk)
                yield chunk
            finished = self._finished(chunks)
            if finished is not None:
                self.calls.store(*finished, self.options)

    async def arecord(
        self,
        stream: AsyncIterable[T],
        landing: AbstractAsyncContextManager[Any] | None = None,
    ) -> AsyncGenerator[T, None]:
        async with landing or contextlib.nullcontext():
            chunks: list[T] = []
            async for chunk in stream:
                chunks.append(chunk)
                yield chunk
            finished = self._finished(chunks)
            if finished is not None:
                await self.calls.astore(*finished, self.options)
