"""Key stability: keys ignore what cannot change an answer and follow everything that can."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiered_cache import InvalidRequestError, build_request

text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: s.strip() != ""
)
params_st = st.dictionaries(
    st.sampled_from(["temperature", "max_tokens", "top_p", "stop", "seed"]),
    st.one_of(st.integers(0, 5), st.floats(0, 2, allow_nan=False), st.lists(text, max_size=2)),
    max_size=4,
)


def conv(system: str, history: list[str], last: str) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for i, h in enumerate(history):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": h})
    msgs.append({"role": "user", "content": last})
    return msgs


@settings(max_examples=60, deadline=None)
@given(system=text, history=st.lists(text, max_size=3), last=text, params=params_st)
def test_key_ignores_order_whitespace_and_ids(
    system: str, history: list[str], last: str, params: dict[str, Any]
) -> None:
    base = build_request(conv(system, history, last), model="m", params=params)
    spaced = [
        {**m, "content": f"  {m['content']}\n", "id": f"msg-{i}"}
        for i, m in enumerate(conv(system, history, last))
    ]
    reordered = dict(reversed(list(params.items())))
    other = build_request(
        spaced, model="m", params={**reordered, "api_key": "sk-secret", "timeout": 30}
    )
    assert other.exact_key == base.exact_key
    assert other.partition_key == base.partition_key


@settings(max_examples=60, deadline=None)
@given(system=text, history=st.lists(text, max_size=3), last=text, params=params_st, data=st.data())
def test_key_follows_every_output_field(
    system: str, history: list[str], last: str, params: dict[str, Any], data: st.DataObject
) -> None:
    base = build_request(conv(system, history, last), model="m", params=params)
    change = data.draw(
        st.sampled_from(
            ["model", "param", "system", "history", "last", "tools", "namespace", "version"]
        )
    )
    msgs = conv(system, history, last)
    kwargs: dict[str, Any] = {"model": "m", "params": params}
    if change == "model":
        kwargs["model"] = "m2"
    elif change == "param":
        kwargs["params"] = {**params, "temperature": 7.5}
    elif change == "system":
        msgs[0]["content"] = system + " extra"
    elif change == "history":
        msgs.insert(1, {"role": "user", "content": "earlier turn"})
    elif change == "last":
        msgs[-1]["content"] = last + " more"
    elif change == "tools":
        kwargs["tools"] = [{"name": "search"}]
    elif change == "namespace":
        kwargs["namespace"] = "other"
    else:
        kwargs["cache_version"] = 2
    other = build_request(msgs, **kwargs)
    assert other.exact_key != base.exact_key
    if change != "last":
        assert other.partition_key != base.partition_key


def test_int_and_float_spellings_match() -> None:
    a = build_request([{"role": "user", "content": "q"}], model="m", params={"temperature": 0})
    b = build_request([{"role": "user", "content": "q"}], model="m", params={"temperature": 0.0})
    assert a.exact_key == b.exact_key


def test_tool_call_ids_are_renamed_by_order() -> None:
    def convo(call_id: str) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": "weather?"},
            {"role": "ai", "content": "", "tool_calls": [{"name": "w", "args": {}, "id": call_id}]},
            {"role": "tool", "content": "sunny", "tool_call_id": call_id},
            {"role": "human", "content": "and tomorrow?"},
        ]

    a = build_request(convo("call_abc"), model="m")
    b = build_request(convo("call_xyz"), model="m")
    assert a.exact_key == b.exact_key


def test_query_text_is_last_user_turn_only() -> None:
    req = build_request(conv("long system prompt", ["hi", "hello"], "What is 2+2?"), model="m")
    assert req.query_text == "What is 2+2?"
    tool_last = build_request(
        [{"role": "user", "content": "x"}, {"role": "tool", "content": "y", "tool_call_id": "1"}],
        model="m",
    )
    assert tool_last.query_text is None
    assert not tool_last.semantic_allowed


def test_text_blocks_form_the_query_text() -> None:
    req = build_request(
        [{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url"}]}],
        model="m",
    )
    assert req.query_text == "look"


@pytest.mark.parametrize(
    ("temperature", "limit", "expected"),
    [(None, 0.0, True), (0, 0.0, True), (0.7, 0.0, False), (0.7, 1.0, True), (2.0, None, True)],
)
def test_deterministic(temperature: float | None, limit: float | None, expected: bool) -> None:
    req = build_request(
        [{"role": "user", "content": "q"}],
        model="m",
        params={"temperature": temperature},
        max_semantic_temperature=limit,
    )
    assert req.deterministic is expected


@pytest.mark.parametrize(
    "messages",
    ["just text", [], [{"content": "no role"}], [{"role": "user", "content": 5}], [42]],
)
def test_bad_messages_raise(messages: Any) -> None:
    with pytest.raises(InvalidRequestError):
        build_request(messages, model="m")


def test_framework_role_names_are_aliased() -> None:
    def req(*roles: str) -> str:
        msgs = [{"role": r, "content": f"turn {i}"} for i, r in enumerate(roles)]
        return build_request(msgs, model="m").exact_key

    assert req("developer", "human", "ai", "human") == req("system", "user", "assistant", "user")
    assert req("system", "user", "model", "user") == req("system", "user", "assistant", "user")
    assert req("system", "user", "tool", "user") != req("system", "user", "assistant", "user")
