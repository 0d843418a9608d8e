"""Keys of a LangChain conversation never change across releases: an entry stored before stays a
hit after. The digests were computed before the core stopped dropping LangChain's message fields
itself (the adapter's `message_dict` drops them)."""

from __future__ import annotations

from langchain_core.load import dumps
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from tiered_cache import build_request

from langchain_tiered_cache.parse import parse_call


def test_a_langchain_conversation_keys_as_before() -> None:
    messages = [
        SystemMessage("You answer briefly.", id="s1"),
        HumanMessage("What's the weather in Paris?", name="ann", id="h1", example=True),
        AIMessage(
            "",
            id="run-1",
            tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_9"}],
            response_metadata={"model_name": "gpt", "finish_reason": "tool_calls"},
            usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        ),
        ToolMessage("sunny", tool_call_id="call_9", id="t1"),
        AIMessage("It is sunny.", id="run-2", response_metadata={"finish_reason": "stop"}),
        HumanMessage("And tomorrow?", id="h2"),
    ]
    llm_string = '[("_type", "fake-chat"), ("model", "m1"), ("temperature", 0)]'
    call = parse_call(dumps(messages), llm_string)
    request = build_request(call.messages, model=call.model, params=call.params, tools=call.tools)
    assert request.exact_key == "dbe3836344f8316c8a39e94a653ce74ea8b7204cae4c741e13aef130f5622f1e"
    assert request.partition_key == "f8285ffe58dec2031dcdd69eed1a76ea"
    for message in call.messages:  # the adapter, not the core, leaves LangChain's fields out
        assert not {"id", "response_metadata", "usage_metadata", "example"} & set(message)
