"""The adapter's hot path: reviving with a precomputed allowlist, copying remembered payloads,
remembering requests by their strings. Each must answer exactly what the slow path answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.load import dumps, loads
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation
from langchain_core.prompts import ChatPromptTemplate

from langchain_tiered_cache import TieredLLMCache
from langchain_tiered_cache.parse import (
    MESSAGE_CLASSES,
    _plain_messages,
    _revived_messages,
    parse_call,
    parse_messages,
)
from langchain_tiered_cache.revive import Reviver, copier, fresh_copy
from langchain_tiered_cache.serialize import PAYLOAD_CLASSES, dump_generations, load_generations

from .fakes import EchoChat

LLM_STRING = EchoChat()._get_llm_string(stop=None)


def payloads() -> list[list[Generation]]:
    tool_call = {"name": "lookup", "args": {"q": ["Paris", {"k": 1}]}, "id": "c1"}
    return [
        [Generation(text="plain", generation_info={"finish_reason": "stop", "n": [1, 2]})],
        [
            ChatGeneration(
                message=AIMessage(
                    content="Paris.",
                    id="run-1",
                    tool_calls=[{**tool_call, "type": "tool_call"}],
                    response_metadata={"model_name": "m", "logprobs": {"content": [1.5]}},
                    usage_metadata={
                        "input_tokens": 3,
                        "output_tokens": 2,
                        "total_tokens": 5,
                        "input_token_details": {"cache_read": 1},
                    },
                    additional_kwargs={"lc": 1, "refusal": None},  # a dict LangChain escapes
                )
            ),
            ChatGeneration(message=AIMessage(content=[{"type": "text", "text": "two", "id": "b"}])),
        ],
        [ChatGenerationChunk(message=AIMessageChunk(content="chunk", id="run-2"))],
    ]


@pytest.mark.parametrize("generations", payloads())
def test_reviver_equals_langchain_loads(generations: list[Generation]) -> None:
    text = dumps(generations)
    expected = loads(text, allowed_objects=list(PAYLOAD_CLASSES))
    assert Reviver(PAYLOAD_CLASSES).loads(text) == expected
    assert load_generations(text) == expected


def test_reviver_refuses_what_the_allowlist_refuses() -> None:
    template = dumps(ChatPromptTemplate.from_messages([("human", "{q}")]))
    with pytest.raises(ValueError):
        loads(template, allowed_objects=list(MESSAGE_CLASSES))
    with pytest.raises(ValueError, match="not allowed"):
        Reviver(MESSAGE_CLASSES).loads(template)
    payload = dumps([ChatGeneration(message=AIMessage("x"))])
    with pytest.raises(ValueError, match="not allowed"):  # messages only: no generations
        Reviver(MESSAGE_CLASSES).loads(payload)


def test_reviver_reads_json_that_orjson_refuses() -> None:
    text = dumps([Generation(text="x", generation_info={"big": 2**70, "nan": float("nan")})])
    revived = Reviver(PAYLOAD_CLASSES).loads(text)
    assert revived[0].generation_info["big"] == 2**70


def test_each_load_returns_new_objects_that_never_change_the_next_one() -> None:
    payload = dump_generations(payloads()[1])
    first = load_generations(payload)
    assert first is not None
    message: Any = first[0].message  # type: ignore[attr-defined]
    message.response_metadata["tiered_cache"] = {"hit": True}
    message.usage_metadata["input_token_details"]["cache_read"] = 99
    message.tool_calls[0]["args"]["q"].append("mutated")
    message.content = "changed"
    second = load_generations(payload)
    assert second == loads(payload, allowed_objects=list(PAYLOAD_CLASSES))
    assert second is not None and second[0] is not first[0]


def test_fresh_copy_is_a_deep_copy() -> None:
    original = payloads()[1][0]
    copied = fresh_copy(original)
    assert copied == original and copied is not original
    assert copied.message is not original.message  # type: ignore[attr-defined]
    assert copied.model_fields_set == original.model_fields_set


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_compiled_copier_gives_deep_copies_equal_to_fresh_copy(index: int) -> None:
    for original in payloads()[index]:
        copy = copier(original)
        first, second = copy(), copy()
        assert first == original == second == fresh_copy(original)
        assert first.model_fields_set == original.model_fields_set
        message = getattr(first, "message", None)
        if message is not None:
            assert message is not original.message  # type: ignore[attr-defined]
            message.response_metadata["mutated"] = True
            message.additional_kwargs["mutated"] = True
            assert second.message.response_metadata == original.message.response_metadata  # type: ignore[attr-defined]
            assert "mutated" not in copy().message.additional_kwargs  # type: ignore[attr-defined]


def test_a_compiled_copier_falls_back_for_what_json_would_change() -> None:
    odd = AIMessage("x", additional_kwargs={"t": (1, 2), "f": float("nan"), "n": 2**70})
    copied = copier(ChatGeneration(message=odd))()
    kwargs = copied.message.additional_kwargs  # type: ignore[attr-defined]
    assert kwargs["t"] == (1, 2) and kwargs["n"] == 2**70 and kwargs["f"] != kwargs["f"]
    assert kwargs is not odd.additional_kwargs


def test_parse_call_hands_out_its_own_params() -> None:
    prompt = dumps([HumanMessage("hi")])
    first = parse_call(prompt, LLM_STRING)
    first.params["temperature"] = 42
    assert parse_call(prompt, LLM_STRING).params.get("temperature") != 42


def test_requests_are_remembered_by_their_strings_until_the_settings_change() -> None:
    cache = TieredLLMCache(namespace="fast-paths", semantic=False)
    prompt = dumps([SystemMessage("Be brief."), HumanMessage("Capital of France?")])
    request = cache._request(prompt, LLM_STRING)
    assert cache._request("".join(prompt), LLM_STRING) is request  # an equal, new string
    cache.core.config = cache.core.config.replace(namespace="other")
    rebuilt = cache._request(prompt, LLM_STRING)
    assert rebuilt is not request and rebuilt.exact_key != request.exact_key
    huge = dumps([HumanMessage("x" * 40_000)])
    assert cache._request(huge, LLM_STRING) is not cache._request(huge, LLM_STRING)


def test_a_remembered_request_still_serves_the_right_answer() -> None:
    cache = TieredLLMCache(namespace="fast-paths-2", semantic=False)
    prompts = [dumps([HumanMessage(f"question {i}")]) for i in range(3)]
    for i, prompt in enumerate(prompts):
        cache.update(prompt, LLM_STRING, [Generation(text=f"answer {i}")])
    for _ in range(2):
        for i, prompt in enumerate(prompts):
            assert cache.lookup(prompt, LLM_STRING) == [Generation(text=f"answer {i}")]
    assert cache.lookup(prompts[0], EchoChat(model="echo-2")._get_llm_string(stop=None)) is None


turn_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@st.composite
def plain_turns(draw: st.DrawFn) -> list[BaseMessage]:
    kinds = draw(st.lists(st.sampled_from([SystemMessage, HumanMessage, AIMessage]), min_size=1))
    turns: list[BaseMessage] = []
    for kind in kinds:
        kwargs: dict[str, Any] = {"content": draw(turn_text)}
        if draw(st.booleans()):
            kwargs["name"] = draw(st.text(max_size=5))
        if draw(st.booleans()):
            kwargs["id"] = draw(st.text(max_size=5))
        turns.append(kind(**kwargs))
    return turns


@settings(max_examples=150, deadline=None)
@given(plain_turns())
def test_plain_prompts_read_without_reviving_match_the_revived_ones(
    turns: list[BaseMessage],
) -> None:
    prompt = dumps(turns)
    plain = _plain_messages(prompt)
    assert plain is not None
    assert plain == _revived_messages(prompt) == parse_messages(prompt)


@pytest.mark.parametrize(
    "turns",
    [
        [HumanMessage(content=[{"type": "text", "text": "blocks"}])],
        [AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "c1"}])],
        [AIMessage("x", additional_kwargs={"function_call": {"name": "f", "arguments": "{}"}})],
        [ToolMessage("42", tool_call_id="c1")],
        [ChatMessage(content="hi", role="critic")],
        [HumanMessage("x", additional_kwargs={"lc": 1})],
    ],
)
def test_anything_but_plain_text_takes_the_full_path(turns: list[BaseMessage]) -> None:
    prompt = dumps(turns)
    assert _plain_messages(prompt) is None
    assert parse_messages(prompt) == _revived_messages(prompt)


def test_a_prompt_that_only_looks_like_messages_is_not_read_as_messages() -> None:
    wrong_type = dumps([HumanMessage("x")]).replace('"type": "human"', '"type": "ai"')
    assert _plain_messages(wrong_type) is None
    assert parse_messages(wrong_type) == _revived_messages(wrong_type)
    other = '[{"lc": 1, "type": "constructor", "id": ["langchain", "x", "Evil"], "kwargs": {}}]'
    assert parse_messages(other) is None
