"""The BaseCache methods directly: round trips, hit metadata and the never-raise policy."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from typing import Any

import pytest
import tiered_cache
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, Generation
from tiered_cache import ConfigurationError, InvalidRequestError

from langchain_tiered_cache import TieredLLMCache
from langchain_tiered_cache.serialize import new_id

from ..redis_server import free_port
from .conftest import LCCacheFactory
from .fakes import EchoChat

PROMPT = dumps([SystemMessage("Be brief."), HumanMessage("What is the capital of France?")])
LLM_STRING = EchoChat()._get_llm_string(stop=None)


def chat_generations() -> list[Generation]:
    tool_call = {"name": "lookup", "args": {"q": "Paris"}, "id": "call_1", "type": "tool_call"}
    return [
        ChatGeneration(
            message=AIMessage(
                content="Paris.",
                id="run-1",
                tool_calls=[tool_call],
                usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
                response_metadata={"model_name": "echo-1", "finish_reason": "stop"},
            ),
            generation_info={"finish_reason": "stop", "logprobs": None},
        ),
        ChatGeneration(
            message=AIMessage(
                content=[{"type": "text", "text": "Paris, "}, {"type": "text", "text": "France."}],
                usage_metadata={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
            )
        ),
    ]


def without_hit_info(generations: list[Generation]) -> list[Generation]:
    for g in generations:
        if isinstance(g, ChatGeneration):
            g.message.response_metadata.pop("tiered_cache", None)
    return generations


class Driver:
    """The same case through `lookup`/`update` or `alookup`/`aupdate`."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def lookup(self, cache: TieredLLMCache, prompt: str, llm_string: str) -> Any:
        if self.mode == "sync":
            return cache.lookup(prompt, llm_string)
        return asyncio.run(cache.alookup(prompt, llm_string))

    def update(self, cache: TieredLLMCache, prompt: str, llm_string: str, value: Any) -> None:
        if self.mode == "sync":
            cache.update(prompt, llm_string, value)
        else:
            asyncio.run(cache.aupdate(prompt, llm_string, value))


@pytest.fixture(params=["sync", "async"])
def io(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)


def test_chat_generations_round_trip(make_lc_cache: LCCacheFactory, io: Driver) -> None:
    cache = make_lc_cache()
    io.update(cache, PROMPT, LLM_STRING, chat_generations())
    hit = io.lookup(cache, PROMPT, LLM_STRING)
    assert type(hit) is list
    info = [g.message.response_metadata["tiered_cache"] for g in hit]
    assert (
        info
        == [
            {
                "hit": True,
                "tier": "exact",
                "similarity": 1.0,
                "matched_query": "What is the capital of France?",
            }
        ]
        * 2
    )
    ids = [g.message.id for g in hit]  # new ones, as a new call's would be
    assert len(set(ids)) == 2 and all(i.startswith("lc_") and i != "run-1" for i in ids)
    stored = chat_generations()
    for g, was in zip(hit, stored, strict=True):
        g.message.id = was.message.id
    assert without_hit_info(hit) == stored
    assert hit[0].message.tool_calls[0]["args"] == {"q": "Paris"}
    assert hit[1].text == "Paris, France."
    assert cache.stats()["tokens_saved"] == 27  # usage of both generations, stored with the entry


def test_plain_generations_come_back_exactly(make_lc_cache: LCCacheFactory, io: Driver) -> None:
    cache = make_lc_cache()
    stored = [Generation(text="one", generation_info={"reason": "test"}), Generation(text="two")]
    io.update(cache, "a text prompt", "[('_type', 'fake-list'), ('stop', None)]", stored)
    assert io.lookup(cache, "a text prompt", "[('_type', 'fake-list'), ('stop', None)]") == stored


def test_each_hit_is_a_fresh_copy(make_lc_cache: LCCacheFactory) -> None:
    cache = make_lc_cache()
    cache.update(PROMPT, LLM_STRING, chat_generations())
    first: Any = cache.lookup(PROMPT, LLM_STRING)
    first[0].message.content = "mutated by the caller"
    second: Any = cache.lookup(PROMPT, LLM_STRING)
    assert second[0].message.content == "Paris."


@pytest.mark.parametrize(
    ("prompt", "llm_string"),
    [
        ("foo", "bar"),
        ("", ""),
        ("[{not json", '{"lc": 1}---[('),
        (PROMPT, "Sample LLM string configuration."),
        ("Sample prompt", LLM_STRING),
        ('[{"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {}}]', LLM_STRING),
    ],
)
def test_any_strings_round_trip_without_raising(
    make_lc_cache: LCCacheFactory, io: Driver, prompt: str, llm_string: str
) -> None:
    cache = make_lc_cache()
    assert io.lookup(cache, prompt, llm_string) is None
    io.update(cache, prompt, llm_string, [Generation(text="x")])
    assert io.lookup(cache, prompt, llm_string) == [Generation(text="x")]


@pytest.mark.parametrize(
    ("prompt", "llm_string"),
    [
        ("\ud800 lone surrogate", "[('_type', 'x')]"),
        (dumps([HumanMessage("\ud800")]), LLM_STRING),
        ("hello", "[('_type', '\ud800')]"),  # the core cannot key this one: a miss
    ],
)
def test_lone_surrogates_never_raise(
    make_lc_cache: LCCacheFactory, io: Driver, prompt: str, llm_string: str
) -> None:
    cache = make_lc_cache()
    io.update(cache, prompt, llm_string, [Generation(text="x")])
    assert io.lookup(cache, prompt, llm_string) in (None, [Generation(text="x")])


def test_unreadable_strings_are_exact_only(make_lc_cache: LCCacheFactory, io: Driver) -> None:
    """Raw strings must never merge: not by similarity, not by whitespace or timestamps."""
    cache = make_lc_cache()
    io.update(cache, "What is the capital of France?", "opaque", [Generation(text="Paris")])
    for other in (
        "What's the capital city of France?",
        "What is the capital of France? ",
        "what is the capital of France?",
    ):
        assert io.lookup(cache, other, "opaque") is None
    assert io.lookup(cache, "What is the capital of France?", "opaque2") is None
    assert cache.stats()["semantic_hits"] == 0


def test_secret_and_neutral_params_do_not_split_entries(
    make_lc_cache: LCCacheFactory, io: Driver
) -> None:
    cache = make_lc_cache()
    one = "[('_type', 'x'), ('api_key', 'sk-one'), ('model', 'm'), ('timeout', 10)]"
    two = "[('_type', 'x'), ('api_key', 'sk-two'), ('model', 'm'), ('timeout', 99)]"
    io.update(cache, "hello", one, [Generation(text="hi")])
    assert io.lookup(cache, "hello", two) == [Generation(text="hi")]
    assert io.lookup(cache, "hello", two.replace("'m'", "'m2'")) is None


class Exploding:
    """A core cache whose every method raises."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"boom in {name}")

        return fail


@pytest.mark.parametrize("error", [RuntimeError("boom"), InvalidRequestError("too big")])
def test_core_failures_become_misses(
    monkeypatch: pytest.MonkeyPatch, io: Driver, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    cache = TieredLLMCache(semantic=False)

    async def araise(*args: Any, **kwargs: Any) -> Any:
        raise error

    def raise_(*args: Any, **kwargs: Any) -> Any:
        raise error

    for name in ("lookup", "store", "request"):
        monkeypatch.setattr(cache.core, name, raise_)
    for name in ("alookup", "astore"):
        monkeypatch.setattr(cache.core, name, araise)
    with caplog.at_level(logging.INFO, logger="langchain_tiered_cache"):
        assert io.lookup(cache, PROMPT, LLM_STRING) is None
        io.update(cache, PROMPT, LLM_STRING, chat_generations())
    assert any(r.name.startswith("langchain_tiered_cache") for r in caplog.records)


def test_model_still_answers_when_every_cache_call_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = TieredLLMCache(cache=Exploding())  # type: ignore[arg-type]
    model = EchoChat(cache=cache)
    assert model.invoke("hi").content == "answer #1 to: hi"
    assert asyncio.run(model.ainvoke("hi")).content == "answer #2 to: hi"


def test_a_dead_redis_serves_misses() -> None:
    cache = TieredLLMCache.from_url(f"redis://127.0.0.1:{free_port()}/0", semantic=False)
    model = EchoChat(cache=cache)
    assert model.invoke("hi").content == "answer #1 to: hi"
    assert model.invoke("hi").content == "answer #2 to: hi"
    assert asyncio.run(model.ainvoke("hi")).content == "answer #3 to: hi"
    assert cache.stats()["errors"] >= 3


def test_too_large_prompts_are_not_cached(make_lc_cache: LCCacheFactory, io: Driver) -> None:
    cache = make_lc_cache(max_prompt_chars=100)
    long_prompt = dumps([HumanMessage("x" * 500)])
    io.update(cache, long_prompt, LLM_STRING, [Generation(text="x")])
    assert io.lookup(cache, long_prompt, LLM_STRING) is None


def test_corrupt_payload_is_a_miss(make_lc_cache: LCCacheFactory, io: Driver) -> None:
    cache = make_lc_cache()
    request = cache._request(PROMPT, LLM_STRING)
    cache.core.store(
        request, '{"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {}}'
    )
    assert io.lookup(cache, PROMPT, LLM_STRING) is None
    for payload in ('"just a string"', "[]", "not json", '[{"text": "no lc"}]'):
        cache.core.store(request, payload)
        assert io.lookup(cache, PROMPT, LLM_STRING) is None


@pytest.mark.parametrize(
    "generations",
    [[Generation(text="x", generation_info={"f": object()})], []],
    ids=["unserializable", "empty"],
)
def test_generations_that_do_not_round_trip_are_not_stored(
    make_lc_cache: LCCacheFactory, io: Driver, generations: list[Generation]
) -> None:
    cache = make_lc_cache()
    io.update(cache, PROMPT, LLM_STRING, generations)
    assert io.lookup(cache, PROMPT, LLM_STRING) is None
    assert cache.stats()["stores"] == 0


def test_constructors() -> None:
    assert TieredLLMCache().core.config.redis_url is None
    assert TieredLLMCache(threshold=0.95).core.config.threshold == 0.95
    core = tiered_cache.TieredCache(semantic=False)
    assert TieredLLMCache(cache=core).core is core
    with pytest.raises(ConfigurationError):
        TieredLLMCache(cache=core, threshold=0.5)
    with pytest.raises(ConfigurationError):
        TieredLLMCache(no_such_setting=1)


@pytest.mark.redis
def test_from_url(redis_url: str, namespace: str) -> None:
    cache = TieredLLMCache.from_url(redis_url, namespace=namespace, semantic=False)
    try:
        assert cache.core.config.namespace == namespace
        cache.update(PROMPT, LLM_STRING, [Generation(text="x")])
        assert TieredLLMCache.from_url(redis_url, namespace=namespace, semantic=False).lookup(
            PROMPT, LLM_STRING
        ) == [Generation(text="x")]
        other = TieredLLMCache.from_url(redis_url, namespace=namespace + "-b", semantic=False)
        assert other.lookup(PROMPT, LLM_STRING) is None
    finally:
        cache.clear()
        cache.close()


def test_the_old_name_still_imports_and_says_it_is_renamed() -> None:
    import langchain_tiered_cache

    with pytest.warns(DeprecationWarning, match="renamed TieredLLMCache; the old name goes in 0.3"):
        old = langchain_tiered_cache.TieredCache
    assert old is TieredLLMCache
    with pytest.warns(DeprecationWarning):
        from langchain_tiered_cache import TieredCache
    assert TieredCache is TieredLLMCache
    assert "TieredCache" not in langchain_tiered_cache.__all__


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX only")
def test_served_message_ids_are_unique_in_a_forked_child_too() -> None:
    """Hits get new message ids from a per-process prefix and a counter (cheaper than a uuid4
    each): a forked child must not repeat its parent's ids (LangGraph merges equal ids)."""
    first, second = new_id(), new_id()
    assert first != second
    assert re.fullmatch(r"lc_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", first)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        try:
            os.write(write, new_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    os.close(read)
    parent_next = new_id()
    assert child.startswith("lc_") and child[:27] != parent_next[:27]  # another prefix
