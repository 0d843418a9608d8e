"""StreamRecorder and the replay helpers, sync and async with the same cases: a stream reaches
its caller whole whatever the cache does, and only a whole stream is ever stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import pytest
from tiered_cache import (
    Backends,
    CacheRequest,
    CallCache,
    CallOptions,
    Encoded,
    Guard,
    MemoryAux,
    MemoryKV,
    StreamRecorder,
    TieredCache,
)
from tiered_cache.observability.incidents import Incidents
from tiered_cache.streams import areplay, replay, replay_pieces

MODES = ["sync", "async"]
logger = logging.getLogger("tests.streams")


class Flaky(MemoryKV):
    """An entry store whose writes fail the way a network store's do, while `down`."""

    errors = (ConnectionRefusedError,)
    error_packages = ()

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if self.down:
            raise ConnectionRefusedError("store down")
        super().set(key, value, ttl)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        self.set(key, value, ttl)


def joined(chunks: list[str]) -> Encoded | None:
    return "".join(chunks), {"total_tokens": len(chunks)}


def setup(
    cache: TieredCache | None = None,
) -> tuple[TieredCache, CallCache, CacheRequest]:
    cache = cache or TieredCache(semantic=False)
    calls = CallCache(cache, Guard(Incidents("streams", logger)))
    return cache, calls, cache.request("Tell me a story.", model="m")


def source(chunks: Iterable[str], fail_after: int | None = None) -> Iterator[str]:
    for i, chunk in enumerate(chunks):
        if fail_after is not None and i == fail_after:
            raise ConnectionError("the model's stream broke")
        yield chunk


async def asource(chunks: Iterable[str], fail_after: int | None = None) -> AsyncIterator[str]:
    for chunk in source(chunks, fail_after):
        yield chunk


def consume(
    mode: str,
    recorder: StreamRecorder[str],
    chunks: list[str],
    *,
    fail_after: int | None = None,
    take: int | None = None,
    landing: Any = None,
) -> list[str]:
    """The chunks the caller receives (`take`: it stops reading after that many)."""
    seen: list[str] = []
    if mode == "sync":
        stream = recorder.record(source(chunks, fail_after), landing)
        for chunk in stream:
            seen.append(chunk)
            if take is not None and len(seen) == take:
                stream.close()
                break
        return seen

    async def run() -> list[str]:
        stream = recorder.arecord(asource(chunks, fail_after), landing)
        async for chunk in stream:
            seen.append(chunk)
            if take is not None and len(seen) == take:
                await stream.aclose()
                break
        return seen

    return asyncio.run(run())


WORDS = ["Once ", "upon ", "a ", "time."]


@pytest.mark.parametrize("mode", MODES)
def test_a_whole_stream_reaches_the_caller_and_is_stored(mode: str) -> None:
    cache, calls, request = setup()
    recorder = StreamRecorder(calls, request, joined)
    assert consume(mode, recorder, WORDS) == WORDS
    hit = cache.lookup(request)
    assert hit is not None and hit.payload == "Once upon a time."
    assert hit.entry.usage == {"total_tokens": 4}


@pytest.mark.parametrize("mode", MODES)
def test_a_broken_stream_reaches_the_caller_as_far_as_it_went_and_stores_nothing(
    mode: str,
) -> None:
    cache, calls, request = setup()
    recorder = StreamRecorder(calls, request, joined)
    seen: list[str] = []
    with pytest.raises(ConnectionError, match="stream broke"):
        if mode == "sync":
            seen.extend(recorder.record(source(WORDS, fail_after=2)))
        else:

            async def run() -> None:
                async for chunk in recorder.arecord(asource(WORDS, fail_after=2)):
                    seen.append(chunk)

            asyncio.run(run())
    assert seen == WORDS[:2]
    assert cache.lookup(request) is None


@pytest.mark.parametrize("mode", MODES)
def test_an_abandoned_stream_stores_nothing_and_lands_its_flight(mode: str) -> None:
    cache, calls, request = setup()
    recorder = StreamRecorder(calls, request, joined)
    landed: list[bool] = []

    @contextlib.contextmanager
    def landing() -> Iterator[None]:
        try:
            yield
        finally:
            landed.append(True)

    @contextlib.asynccontextmanager
    async def alanding() -> AsyncIterator[None]:
        try:
            yield
        finally:
            landed.append(True)

    flight = landing() if mode == "sync" else alanding()
    assert consume(mode, recorder, WORDS, take=2, landing=flight) == WORDS[:2]
    assert landed == [True]
    assert cache.lookup(request) is None


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_backend_while_recording_leaves_the_stream_whole_and_stores_nothing(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Flaky()
    cache = TieredCache(backends=Backends(entries=store, aux=MemoryAux(), leases=store))
    cache, calls, request = setup(cache)
    store.down = True
    recorder = StreamRecorder(calls, request, joined)
    with caplog.at_level(logging.WARNING):
        assert consume(mode, recorder, WORDS) == WORDS
    store.down = False
    assert cache.lookup(request) is None
    assert cache.stats()["errors"] >= 1  # a backend failure: a dropped write, counted


@pytest.mark.parametrize("mode", MODES)
def test_a_cache_that_raises_while_storing_never_reaches_the_caller(
    mode: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache, calls, request = setup()

    def boom(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("boom in store")

    async def aboom(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("boom in store")

    monkeypatch.setattr(cache, "store", boom)
    monkeypatch.setattr(cache, "astore", aboom)
    recorder = StreamRecorder(calls, request, joined)
    with caplog.at_level(logging.WARNING, logger="tests.streams"):
        assert consume(mode, recorder, WORDS) == WORDS
    assert "store failed, continuing without the cache (RuntimeError: boom in store)" in caplog.text
    monkeypatch.undo()
    assert cache.lookup(request) is None


@pytest.mark.parametrize("mode", MODES)
def test_an_encoder_that_fails_or_refuses_stores_nothing(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache, calls, request = setup()

    def broken(chunks: list[str]) -> Encoded | None:
        raise ValueError("not JSON")

    with caplog.at_level(logging.WARNING, logger="tests.streams"):
        assert consume(mode, StreamRecorder(calls, request, broken), WORDS) == WORDS
    assert "ValueError: not JSON" in caplog.text
    assert consume(mode, StreamRecorder(calls, request, lambda c: None), WORDS) == WORDS
    assert cache.lookup(request) is None


@pytest.mark.parametrize("mode", MODES)
def test_nothing_is_stored_of_an_empty_stream_a_no_store_call_or_a_refused_request(
    mode: str,
) -> None:
    cache, calls, request = setup()
    encoded: list[list[str]] = []

    def spy(chunks: list[str]) -> Encoded | None:
        encoded.append(list(chunks))
        return joined(chunks)

    assert consume(mode, StreamRecorder(calls, request, spy), []) == []
    no_store = CallOptions(no_store=True)
    assert consume(mode, StreamRecorder(calls, request, spy, no_store), WORDS) == WORDS
    assert consume(mode, StreamRecorder(calls, None, spy), WORDS) == WORDS
    assert encoded == []
    assert cache.lookup(request) is None


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_is_stored_with_the_calls_ttl_and_tags(mode: str) -> None:
    cache, calls, request = setup()
    options = CallOptions(tags=("doc-7",), ttl=60.0)
    assert consume(mode, StreamRecorder(calls, request, joined, options), WORDS) == WORDS
    assert cache.invalidate(tags=["doc-7"]) == 1
    assert cache.lookup(request) is None


@pytest.mark.parametrize("text", ["Once upon a time.", "  two  spaces ", "", "one", "a\nb"])
def test_replay_pieces_join_back_to_the_text(text: str) -> None:
    pieces = replay_pieces(text)
    assert "".join(pieces) == text and pieces


@pytest.mark.parametrize("mode", MODES)
def test_replay_yields_the_chunks_in_order(mode: str) -> None:
    if mode == "sync":
        assert list(replay(WORDS)) == WORDS
    else:

        async def run() -> list[str]:
            return [chunk async for chunk in areplay(WORDS)]

        assert asyncio.run(run()) == WORDS
