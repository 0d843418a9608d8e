"""Keys of a LlamaIndex conversation never change across releases: an entry stored before stays
a hit after (digests computed before the per-call policy and streams moved to the core)."""

from __future__ import annotations

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from tiered_cache import build_request

from llamaindex_tiered_cache.messages import messages_to_dicts


def test_a_llamaindex_conversation_keys_as_before() -> None:
    call = ToolCallBlock(tool_call_id="call_9", tool_name="weather", tool_kwargs={"city": "Paris"})
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="You answer briefly."),
        ChatMessage(
            role=MessageRole.USER,
            content="What's the weather in Paris?",
            additional_kwargs={"name": "ann"},
        ),
        ChatMessage(
            role=MessageRole.ASSISTANT, blocks=[call], additional_kwargs={"prompt_tokens": 3}
        ),
        ChatMessage(
            role=MessageRole.TOOL,
            content="sunny",
            additional_kwargs={"tool_call_id": "call_9", "name": "weather"},
        ),
        ChatMessage(role=MessageRole.CHATBOT, content="It is sunny."),
        ChatMessage(role=MessageRole.DEVELOPER, content="Be kind."),
        ChatMessage(role=MessageRole.USER, content="And tomorrow?"),
    ]
    request = build_request(
        messages_to_dicts(messages), model="llamaindex:m1", params={"temperature": 0}
    )
    assert request.exact_key == "01dbe03d895305c3f1d3485ba9e60f136a9e729769676a3c466d5556108e102d"
    assert request.partition_key == "1e4da658deecf6ea1b12a82be6989748"
