"""CallCache and Guard, sync and async with the same cases: each call's options applied around
the lookup, the flight and the store; a cache failure a miss or a dropped write, logged once per
incident, never an exception in the model call."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from tiered_cache import (
    CacheHit,
    CacheRequest,
    CallCache,
    CallOptions,
    Encoded,
    Guard,
    InvalidRequestError,
    TieredCache,
)
from tiered_cache.calls import coalesces
from tiered_cache.observability.incidents import Incidents

MODES = ["sync", "async"]
logger = logging.getLogger("tests.calls")


def setup(**guard: bool) -> tuple[TieredCache, CallCache, CacheRequest]:
    cache = TieredCache(semantic=False)
    calls = CallCache(cache, Guard(Incidents("calls", logger), **guard))
    return cache, calls, cache.request("What is 2+2?", model="m")


def lookup(mode: str, calls: CallCache, request: CacheRequest, options: CallOptions) -> Any:
    if mode == "sync":
        return calls.lookup(request, options)
    return asyncio.run(calls.alookup(request, options))


def store(
    mode: str,
    calls: CallCache,
    request: CacheRequest,
    encode: Callable[[], Encoded | None],
    options: CallOptions,
) -> bool:
    if mode == "sync":
        return calls.store(request, encode, options)
    return asyncio.run(calls.astore(request, encode, options))


def answer(text: str) -> Callable[[], Encoded | None]:
    return lambda: (text, None)


@pytest.mark.parametrize("mode", MODES)
def test_a_plain_call_is_served_what_it_stored(mode: str) -> None:
    _, calls, request = setup()
    options = CallOptions()
    assert lookup(mode, calls, request, options) is None
    assert store(mode, calls, request, answer("4"), options)
    hit = lookup(mode, calls, request, options)
    assert hit is not None and hit.payload == "4" and hit.tier == "exact"


@pytest.mark.parametrize("mode", MODES)
def test_bypass_looks_nothing_up_and_its_answer_replaces_the_stored_one(mode: str) -> None:
    cache, calls, request = setup()
    cache.store(request, "5")
    bypass = CallOptions(bypass=True)
    assert lookup(mode, calls, request, bypass) is None
    assert store(mode, calls, request, answer("4"), bypass)
    hit = cache.lookup(request)
    assert hit is not None and hit.payload == "4"


@pytest.mark.parametrize("mode", MODES)
def test_refresh_forgets_the_stored_answer_first(mode: str) -> None:
    cache, calls, request = setup()
    cache.store(request, "5")
    assert lookup(mode, calls, request, CallOptions(refresh=True)) is None
    assert cache.lookup(request) is None  # gone even if the model call then fails


@pytest.mark.parametrize("mode", MODES)
def test_no_store_is_served_but_never_stores_nor_encodes(mode: str) -> None:
    cache, calls, request = setup()
    no_store = CallOptions(no_store=True)

    def never() -> Encoded | None:
        raise AssertionError("a no_store call encoded its answer")

    assert not store(mode, calls, request, never, no_store)
    assert cache.lookup(request) is None
    cache.store(request, "4")
    hit = lookup(mode, calls, request, no_store)
    assert hit is not None and hit.payload == "4"


@pytest.mark.parametrize("mode", MODES)
def test_the_calls_threshold_reaches_the_lookup_and_ttl_and_tags_the_entry(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, calls, request = setup()
    options = CallOptions(threshold=0.97, ttl=30.0, tags=("doc-7",))
    seen: list[CacheRequest] = []
    real, areal = cache.lookup, cache.alookup

    def spy(request: CacheRequest, *, lead: bool = False) -> CacheHit | None:
        seen.append(request)
        return real(request, lead=lead)

    async def aspy(request: CacheRequest, *, lead: bool = False) -> CacheHit | None:
        seen.append(request)
        return await areal(request, lead=lead)

    monkeypatch.setattr(cache, "lookup", spy)
    monkeypatch.setattr(cache, "alookup", aspy)
    lookup(mode, calls, request, options)
    assert [r.threshold for r in seen] == [0.97]
    assert seen[0].exact_key == request.exact_key  # a threshold never joins a key
    assert store(mode, calls, request, answer("4"), options)
    entry = real(request)
    assert entry is not None and entry.entry.ttl == 30.0
    assert cache.invalidate(tags=["doc-7"]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_that_cannot_be_encoded_is_not_stored(mode: str) -> None:
    cache, calls, request = setup()
    assert not store(mode, calls, request, lambda: None, CallOptions())
    assert cache.lookup(request) is None


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_cache_is_a_miss_logged_once_per_incident(
    mode: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache, calls, request = setup()

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    async def aboom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    for name in ("lookup", "store", "forget"):
        monkeypatch.setattr(cache, name, boom)
    for name in ("alookup", "astore", "aforget"):
        monkeypatch.setattr(cache, name, aboom)
    with caplog.at_level(logging.WARNING, logger="tests.calls"):
        for options in (CallOptions(), CallOptions(refresh=True)):
            assert lookup(mode, calls, request, options) is None
            assert not store(mode, calls, request, answer("4"), options)
    failures = [r for r in caplog.records if "continuing without the cache" in r.message]
    assert len(failures) == 1 and "lookup failed" in failures[0].message
    monkeypatch.undo()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tests.calls"):
        assert lookup(mode, calls, request, CallOptions()) is None
    assert "recovered" in caplog.text


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_request_is_logged_at_info_when_asked(
    mode: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for at_info in (True, False):
        cache, calls, request = setup(refusals_at_info=at_info)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise InvalidRequestError("prompt too long")

        async def arefuse(*args: Any, **kwargs: Any) -> Any:
            raise InvalidRequestError("prompt too long")

        monkeypatch.setattr(cache, "lookup", refuse)
        monkeypatch.setattr(cache, "alookup", arefuse)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tests.calls"):
            assert lookup(mode, calls, request, CallOptions()) is None
        (record,) = caplog.records
        assert record.levelno == (logging.INFO if at_info else logging.WARNING)
        assert "prompt too long" in record.message


def test_the_guard_lets_interrupts_through() -> None:
    guard = Guard(Incidents("calls", logger))
    with pytest.raises(KeyboardInterrupt), guard("lookup"):
        raise KeyboardInterrupt


def test_which_calls_join_a_flight() -> None:
    assert coalesces(CallOptions())
    assert coalesces(CallOptions(threshold=0.9, tags=("t",)))
    assert not coalesces(CallOptions(bypass=True))
    assert not coalesces(CallOptions(refresh=True))
    assert not coalesces(CallOptions(no_store=True))


def test_concurrent_identical_calls_share_one_model_call() -> None:
    cache, calls, request = setup()
    model_calls: list[int] = []
    served: list[str] = []
    leading = threading.Event()
    release = threading.Event()

    def call() -> None:
        with calls.flight(request, CallOptions()) as hit:
            if hit is not None:
                served.append(hit.payload)
                return
            leading.set()
            release.wait(10)
            model_calls.append(1)
            calls.store(request, answer("4"))
            served.append("4")

    leader = threading.Thread(target=call)
    leader.start()
    assert leading.wait(10)
    waiter = threading.Thread(target=call)
    waiter.start()
    release.set()
    leader.join(10)
    waiter.join(10)
    assert model_calls == [1] and served == ["4", "4"]
    assert cache.stats()["coalesced_hits"] == 1


async def test_concurrent_identical_async_calls_share_one_model_call() -> None:
    _, calls, request = setup()
    model_calls: list[int] = []

    async def call() -> str:
        async with calls.aflight(request, CallOptions()) as hit:
            if hit is not None:
                return hit.payload
            await asyncio.sleep(0.05)
            model_calls.append(1)
            await calls.astore(request, answer("4"))
            return "4"

    assert await asyncio.gather(call(), call()) == ["4", "4"]
    assert model_calls == [1]


@pytest.mark.parametrize("mode", MODES)
def test_a_flight_that_fails_frees_the_key_and_a_call_that_does_not_coalesce_leads_nothing(
    mode: str,
) -> None:
    cache, calls, request = setup()

    async def afail() -> None:
        async with calls.aflight(request) as hit:
            assert hit is None
            raise ConnectionError("model down")

    with pytest.raises(ConnectionError):
        if mode == "sync":
            with calls.flight(request) as hit:
                assert hit is None
                raise ConnectionError("model down")
        else:
            asyncio.run(afail())
    assert cache.lead(request)  # the key was freed: this caller leads at once
    cache.land(request)
    bypass = CallOptions(bypass=True)
    if mode == "sync":
        with calls.flight(request, bypass) as hit:
            assert hit is None
            assert cache.lead(request)  # the bypass led nothing
            cache.land(request)
    else:

        async def run() -> None:
            async with calls.aflight(request, bypass) as hit:
                assert hit is None
                assert await cache.alead(request)
                await cache.aland(request)

        asyncio.run(run())
    cache.store(request, "4")
    with calls.flight(request, CallOptions(threshold=0.99), coalesce=False) as hit:
        assert hit is not None and hit.payload == "4"
