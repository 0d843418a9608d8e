"""The streamed endpoints of `CachedLLM`: a hit replayed as a stream (a chunk a word), a miss
streamed from the wrapped LLM and stored once whole (`tiered_cache.StreamRecorder`). Concurrent
identical streams share one model call: the others replay its stored answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse
from tiered_cache import CacheHit, CacheRequest, CallCache, Encoded, StreamRecorder
from tiered_cache.options import DEFAULT, CallOptions
from tiered_cache.streams import areplay, replay

from .responses import Response, final_from_stream, stream_chunks

Served = Callable[[CacheHit | None, type[Any]], Any]
"""`CachedLLM._served`: the response of a hit (reported), or None."""


def coalesces(options: CallOptions) -> bool:
    """Only a call without options of its own joins a single flight (`get_or_compute` stores
    with the cache's TTL and no tags; streams follow the same rule)."""
    return options == DEFAULT


class Streams:
    """Opens the streams of one `CachedLLM` (see the module)."""

    __slots__ = ("calls", "encoded", "served")

    def __init__(
        self,
        calls: CallCache,
        served: Served,
        encoded: Callable[[ChatResponse | CompletionResponse], Encoded | None],
    ) -> None:
        self.calls = calls
        self.served = served
        self.encoded = encoded

    def _recorder(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions
    ) -> StreamRecorder[Response]:
        """Stores the whole response (of type `kind`) of a stream consumed to its end."""

        def whole(chunks: list[Response]) -> Encoded | None:
            deltas = [chunk.delta or "" for chunk in chunks]
            return self.encoded(final_from_stream(chunks[-1], deltas))

        return StreamRecorder(self.calls, request, whole, options)

    def _hit(self, hit: CacheHit | None, kind: type[Response], options: CallOptions) -> Any:
        return self.served(hit, kind) if options.looks_up else None

    def open(
        self,
        request: CacheRequest | None,
        kind: type[Response],
        options: CallOptions,
        call: Callable[[], Iterator[Response]],
        report: Callable[[Generator[Response, None, None]], Any],
    ) -> Generator[Response, None, None]:
        """A stream of the cached answer, reported by `report`, or of `call()`, recorded."""
        flight = contextlib.ExitStack()  # the flight this call leads, landed when it ends
        if request is not None:
            coalesce = coalesces(options)
            hit = flight.enter_context(self.calls.flight(request, options, coalesce=coalesce))
            if hit is not None:
                flight.close()  # a hit leads nothing
            cached = self._hit(hit, kind, options)
            if cached is not None:
                replayed: Generator[Response, None, None] = report(replay(stream_chunks(cached)))
                return replayed
        try:
            stream = call()
        except BaseException:
            flight.close()
            raise
        return self._recorder(request, kind, options).record(stream, flight)

    async def aopen(
        self,
        request: CacheRequest | None,
        kind: type[Response],
        options: CallOptions,
        call: Callable[[], Awaitable[AsyncIterator[Response]]],
        report: Callable[[AsyncGenerator[Response, None]], Awaitable[Any]],
    ) -> AsyncGenerator[Response, None]:
        flight = contextlib.AsyncExitStack()
        if request is not None:
            coalesce = coalesces(options)
            hit = await flight.enter_async_context(
                self.calls.aflight(request, options, coalesce=coalesce)
            )
            if hit is not None:
                await flight.aclose()
            cached = self._hit(hit, kind, options)
            if cached is not None:
                replayed: AsyncGenerator[Response, None] = await report(
                    areplay(stream_chunks(cached))
                )
                return replayed
        try:
            stream = await call()
        except BaseException:
            await flight.aclose()
            raise
        return self._recorder(request, kind, options).arecord(stream, flight)
