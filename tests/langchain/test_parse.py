"""Reading LangChain's strings: the real formats, taken from real models, and arbitrary text."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.language_models import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.load import dumps
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import SecretStr

from langchain_tiered_cache import TieredLLMCache
from langchain_tiered_cache.parse import parse_call, parse_items

from .fakes import EchoChat


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "sunny"


def llm_string_of(model: Any, **kwargs: Any) -> str:
    """What LangChain passes as `llm_string` for a call (chat models and text LLMs alike)."""
    if isinstance(model, FakeListLLM):
        return str(sorted({**model._dict_for_compat(), "stop": kwargs.get("stop")}.items()))
    return str(model._get_llm_string(**kwargs))


def test_serializable_chat_model() -> None:
    model = EchoChat(model="echo-9", temperature=0.3, api_key=SecretStr("sk-x"))
    call = parse_call(dumps([HumanMessage("hi")]), llm_string_of(model, stop=["END"], max_tokens=5))
    assert call.model == "tests.langchain.fakes.EchoChat:model=echo-9"
    assert call.params == {"temperature": 0.3, "stop": ["END"], "max_tokens": 5}
    assert call.tools is None and not call.exact_only
    assert call.messages == [{"role": "human", "content": "hi"}]


def test_bound_tools_become_tools() -> None:
    model = EchoChat()
    kwargs = model.bind_tools([get_weather], tool_choice="auto").kwargs  # type: ignore[attr-defined]
    call = parse_call(dumps([HumanMessage("hi")]), llm_string_of(model, **kwargs))
    assert call.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "parameters": {
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "type": "object",
                },
            },
        }
    ]
    assert call.params == {"tool_choice": "auto", "stop": None}


def test_non_serializable_chat_model_and_text_llm() -> None:
    chat = parse_call(
        dumps([HumanMessage("hi")]), llm_string_of(FakeListChatModel(responses=["a"]))
    )
    assert chat.model == "fake-list-chat-model"
    assert chat.params == {"responses": ["a"], "stop": None}
    text = parse_call("Tell me a joke.", llm_string_of(FakeListLLM(responses=["a"]), stop=["\n"]))
    assert text.model == "fake-list"
    assert text.params == {"responses": ["a"], "stop": ["\n"]}
    assert text.messages == [{"role": "user", "content": "Tell me a joke."}]


def test_messages_keep_what_changes_an_answer() -> None:
    messages = [
        SystemMessage("sys", id="m0"),
        HumanMessage([{"type": "text", "text": "hi", "id": "blk"}], name="bob", id="m1"),
        AIMessage(
            "",
            id="m2",
            tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
            usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
            response_metadata={"model_name": "x"},
        ),
        ToolMessage("result", tool_call_id="c1", status="error"),
        ChatMessage(role="critic", content="hm"),
    ]
    call = parse_call(dumps(messages), llm_string_of(EchoChat()))
    assert call.messages == [
        {"role": "system", "content": "sys"},
        {"role": "human", "content": [{"type": "text", "text": "hi"}], "name": "bob"},
        {"role": "ai", "content": "", "tool_calls": [{"name": "f", "args": {"a": 1}, "id": "c1"}]},
        {"role": "tool", "content": "result", "tool_call_id": "c1", "status": "error"},
        {"role": "critic", "content": "hm"},
    ]


def test_secret_markers_are_dropped_at_any_depth() -> None:
    secret = {"lc": 1, "type": "secret", "id": ["KEY"]}
    kwargs = {"model": "m", "key": secret, "extra": {"k": secret, "t": 1}}
    model = {"id": ["x", "M"], "kwargs": kwargs, "lc": 1, "type": "constructor"}
    llm = json.dumps(model, sort_keys=True) + "---[('stop', None)]"
    call = parse_call("hello", llm)
    assert call.params == {"extra": {"t": 1}, "stop": None}
    assert call.model == "x.M:model=m"


def test_non_literal_values_are_kept_as_source_text() -> None:
    assert parse_items("[('a', 1), ('b', SecretStr('**********')), ('c', Foo(x=[1]))]") == {
        "a": 1,
        "b": "SecretStr('**********')",
        "c": "Foo(x=[1])",
    }
    assert parse_items("[('a', <function f at 0x7f>)]") is None
    assert parse_items("Sample LLM string configuration.") is None
    assert parse_items("[1, 2]") is None


def test_unreadable_call_kwargs_make_the_call_exact_only() -> None:
    serialized = llm_string_of(EchoChat()).split("---")[0]
    call = parse_call(dumps([HumanMessage("hi")]), serialized + "---[('schema', <class 'X'>)]")
    assert call.exact_only
    assert call.params["call_kwargs"] == "[('schema', <class 'X'>)]"


def test_unknown_formats_are_raw_and_exact_only() -> None:
    call = parse_call("Sample prompt for testing.", "Sample LLM string configuration.")
    assert call.exact_only
    assert call.model == "langchain-raw:Sample LLM string configuration."
    assert call.messages == [{"role": "user", "content": "Sample prompt for testing."}]


@settings(max_examples=300, deadline=None)
@given(prompt=st.text(), llm_string=st.text())
def test_parse_never_raises(prompt: str, llm_string: str) -> None:
    parse_call(prompt, llm_string)
    parse_call(prompt, "[('_type', " + repr(llm_string) + ")]")
    parse_call(dumps([HumanMessage(prompt)]), '{"id": ["x"]}---' + llm_string)


_CACHE = TieredLLMCache(semantic=False)


@settings(max_examples=200, deadline=None)
@given(
    prompt=st.one_of(st.text(), st.text().map(lambda t: dumps([HumanMessage(t)]))),
    llm_string=st.one_of(st.text(), st.just(llm_string_of(EchoChat()))),
)
def test_lookup_and_update_never_raise(prompt: str, llm_string: str) -> None:
    from langchain_core.outputs import Generation

    _CACHE.update(prompt, llm_string, [Generation(text="x")])
    assert _CACHE.lookup(prompt, llm_string) in (None, [Generation(text="x")])
