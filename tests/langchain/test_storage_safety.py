"""What reaches storage: LangChain JSON (never pickle), and no secret from `llm_string`."""

from __future__ import annotations

import json
import pickle
from typing import Any

import orjson
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration
from pydantic import SecretStr
from tiered_cache import MemoryKV

from langchain_tiered_cache import TieredLLMCache

from .conftest import LCCacheFactory
from .fakes import EchoChat

FIELD_SECRET = "sk-field-SECRET-1111"
KWARG_SECRET = "sk-kwarg-SECRET-2222"
RAW_SECRET = "sk-raw-SECRET-3333"
SECRETS = (FIELD_SECRET, KWARG_SECRET, RAW_SECRET)


def stored(cache: TieredLLMCache) -> list[tuple[bytes, bytes]]:
    """Every (key, value) this cache wrote, straight from its storage."""
    core = cache.core
    if core.config.redis_url is None:
        entries = core.backends.entries
        assert isinstance(entries, MemoryKV)
        return [(k.encode(), v) for k, v in entries.scan("")]
    client: Any = core.redis.node()  # the server (the shard, on a cluster) of the namespace
    out: list[tuple[bytes, bytes]] = []
    for key in client.scan_iter(match=f"*{core.config.namespace}*", count=1000):
        kind = client.type(key)
        if kind == b"hash":
            out += [(key + b"#" + f, v) for f, v in client.hgetall(key).items()]
        elif kind == b"string":
            out.append((key, client.get(key) or b""))
        else:
            out.append((key, repr(kind).encode()))
    return out


@pytest.fixture
def filled(make_lc_cache: LCCacheFactory) -> TieredLLMCache:
    cache = make_lc_cache()
    model = EchoChat(cache=cache, api_key=SecretStr(FIELD_SECRET), model="echo-secret")
    messages = [SystemMessage("Be brief."), HumanMessage("What is the capital of France?")]
    model.invoke(messages)
    model.invoke(messages, openai_api_key=KWARG_SECRET, max_tokens=5)
    assert KWARG_SECRET in model._get_llm_string(
        openai_api_key=KWARG_SECRET
    )  # LangChain puts it there
    assert FIELD_SECRET not in model._get_llm_string()  # a SecretStr field is only a marker
    # A rotated key is the same request: it must hit, not split the cache.
    rotated = EchoChat(cache=cache, api_key=SecretStr("sk-other"), model="echo-secret")
    assert rotated.invoke(messages, openai_api_key="sk-other-2", max_tokens=5).content == (
        "answer #2 to: What is the capital of France?"
    )
    raw_answer = [ChatGeneration(message=AIMessage("raw answer"))]
    cache.update("raw prompt", f"opaque config with {RAW_SECRET}", raw_answer)
    assert cache.lookup("raw prompt", f"opaque config with {RAW_SECRET}") is not None
    assert model.calls == 2
    return cache


def test_no_secret_reaches_storage(filled: TieredLLMCache) -> None:
    entries = stored(filled)
    assert len(entries) >= 3
    for key, value in entries:
        for secret in SECRETS:
            assert secret.encode() not in key
            assert secret.encode() not in value, f"{secret} stored under {key!r}"


def test_entries_are_json_and_payloads_are_langchain_json(filled: TieredLLMCache) -> None:
    payloads = 0
    for key, value in stored(filled):
        if filled.core.config.redis_url is not None and not key.endswith(b"#d"):
            continue  # hit counters, vectors, partition tags
        assert not value.startswith(b"\x80"), "pickle protocol header"
        entry = orjson.loads(value)
        document = json.loads(entry["payload"])
        assert isinstance(document, list) and document[0]["lc"] == 1
        assert document[0]["id"][-1] == "ChatGeneration"
        assert b"pickle" not in value and pickle.PROTO not in value[:1]
        payloads += 1
    assert payloads == 3
