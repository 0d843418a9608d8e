"""The streamed endpoints of `CachedLLM`: a hit replayed as a stream (a chunk a word), a miss
streamed from the wrapped LLM and stored once whole (`tiered_cache.StreamRecorder`). Concurrent
identical streams share one model call: the others replay its stored answer. Under
`max_wrong_rate` a stream read to its end is audited as `chat`/`complete` are (a replayed hit
against a fresh answer, a miss against its nearest stored neighbour, in the background); a
stream closed halfway is not."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse
from tiered_cache import CacheHit, CacheRequest, CallCache, Encoded, StreamRecorder
from tiered_cache import Served as Given
from tiered_cache.options import DEFAULT, CallOptions
from tiered_cache.streams import areplay, replay

from .responses import Response, answer_of, final_from_stream, stream_chunks

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

        return StreamRecorder(self.calls, request, self._whole, options)

    def _whole(self, chunks: list[Response]) -> Encoded | None:
        """The payload of a whole streamed response."""
        deltas = [chunk.delta or "" for chunk in chunks]
        return self.encoded(final_from_stream(chunks[-1], deltas)) if chunks else None

    def _fresh(self, chunks: list[Response]) -> Encoded:
        encoded = self._whole(chunks)
        if encoded is None:
            raise ValueError("the wrapped LLM's fresh stream holds no storable response")
        return encoded

    def _served_for_audit(self, hit: CacheHit | None, chunks: list[Response]) -> Given | None:
        """What the caller was given: the hit, or the miss's streamed answer joined."""
        if hit is not None:
            return Given(hit.payload, hit)
        encoded = self._whole(chunks)
        return None if encoded is None else Given(encoded[0], None)

    def _audited(
        self,
        stream: Iterator[Response],
        request: CacheRequest | None,
        hit: CacheHit | None,
        kind: type[Response],
        options: CallOptions,
        call: Callable[[], Iterator[Response]],
    ) -> Generator[Response, None, None]:
        """`stream`, audited once read to its end (see the module)."""
        auditor = self.calls.cache.auditor
        if auditor is None or request is None:
            yield from stream
            return
        chunks: list[Response] = []
        try:
            for chunk in stream:
                chunks.append(chunk)
                yield chunk
        finally:  # closed halfway: the recorder's flight is landed now, not when collected
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        with self.calls.guard("audit"):
            served = self._served_for_audit(hit, chunks)
            if served is not None:
                auditor.after(
                    request,
                    served,
                    lambda: self._fresh(list(call())),
                    options.ttl,
                    lambda payload: answer_of(payload, kind),
                )

    async def _aaudited(
        self,
        stream: AsyncIterator[Response],
        request: CacheRequest | None,
        hit: CacheHit | None,
        kind: type[Response],
        options: CallOptions,
        call: Callable[[], Awaitable[AsyncIterator[Response]]],
    ) -> AsyncGenerator[Response, None]:
        auditor = self.calls.cache.auditor
        chunks: list[Response] = []
        try:
            async for chunk in stream:
                if auditor is not None and request is not None:
                    chunks.append(chunk)
                yield chunk
        finally:  # closed halfway: the recorder's flight is landed now, not when collected
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if auditor is None or request is None:
            return
        with self.calls.guard("audit"):
            served = self._served_for_audit(hit, chunks)
            if served is not None:

                async def fresh() -> Encoded:
                    return self._fresh([chunk async for chunk in await call()])

                auditor.aafter(
                    request, served, fresh, options.ttl, lambda payload: answer_of(payload, kind)
                )

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
                chunks = replay(stream_chunks(cached))
                audited = self._audited(chunks, request, hit, kind, options, call)
                replayed: Generator[Response, None, None] = report(audited)
                return replayed
        try:
            stream = call()
        except BaseException:
            flight.close()
            raise
        recorded = self._recorder(request, kind, options).record(stream, flight)
        return self._audited(recorded, request, None, kind, options, call)

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
                chunks = areplay(stream_chunks(cached))
                audited = self._aaudited(chunks, request, hit, kind, options, call)
                replayed: AsyncGenerator[Response, None] = await report(audited)
                return replayed
        try:
            stream = await call()
        except BaseException:
            await flight.aclose()
            raise
        recorded = self._recorder(request, kind, options).arecord(stream, flight)
        return self._aaudited(recorded, request, None, kind, options, call)
