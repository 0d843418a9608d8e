"""ChatMessage -> core message dicts: the shape the LangChain adapter builds, so that both adapters
key the same conversation the same way."""

from __future__ import annotations

from llama_index.core.base.llms.types import ImageBlock, TextBlock, ToolCallBlock
from llama_index.core.llms import ChatMessage
from tiered_cache import TieredCache

from llamaindex_tiered_cache.messages import message_to_dict, messages_to_dicts


def test_text_messages() -> None:
    assert messages_to_dicts(
        [
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Hi"),
            ChatMessage(role="model", content="Hello"),
        ]
    ) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "model", "content": "Hello"},  # the core aliases model -> assistant
    ]
    two_texts = ChatMessage(role="user", blocks=[TextBlock(text="a"), TextBlock(text="b")])
    assert message_to_dict(two_texts) == {"role": "user", "content": "a\nb"}


def test_tool_calls_and_results() -> None:
    call = ChatMessage(
        role="assistant",
        blocks=[ToolCallBlock(tool_call_id="call_9", tool_name="add", tool_kwargs={"a": 1})],
    )
    result = ChatMessage(
        role="tool", content="2", additional_kwargs={"tool_call_id": "call_9", "name": "add"}
    )
    openai_call = {"id": "x", "function": {"name": "add", "arguments": '{"a": 1}'}}
    legacy = ChatMessage(role="assistant", additional_kwargs={"tool_calls": [openai_call]})

    assert message_to_dict(call) == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"name": "add", "args": {"a": 1}, "id": "call_9"}],
    }
    assert message_to_dict(result) == {
        "role": "tool",
        "content": "2",
        "tool_call_id": "call_9",
        "name": "add",
    }
    assert message_to_dict(legacy)["tool_calls"] == [{"name": "add", "args": {"a": 1}, "id": "x"}]


def test_non_text_blocks_are_kept_as_typed_blocks() -> None:
    message = ChatMessage(
        role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(url="https://x/y.png")]
    )
    content = message_to_dict(message)["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["type"] == "image"
    assert content[1]["url"] == "https://x/y.png"

    binary = ChatMessage(role="user", blocks=[ImageBlock(image=b"\x89PNG\x00\xff")])
    assert message_to_dict(binary)["content"][0]["type"] == "image"


def test_replayed_tool_call_ids_key_the_same() -> None:
    cache = TieredCache(semantic=False)

    def conversation(call_id: str) -> list[ChatMessage]:
        return [
            ChatMessage(role="user", content="add 1 and 1"),
            ChatMessage(
                role="assistant",
                blocks=[ToolCallBlock(tool_call_id=call_id, tool_name="add", tool_kwargs={})],
            ),
            ChatMessage(role="tool", content="2", additional_kwargs={"tool_call_id": call_id}),
            ChatMessage(role="user", content="thanks"),
        ]

    a = cache.request(messages_to_dicts(conversation("call_a")), model="m")
    b = cache.request(messages_to_dicts(conversation("call_b")), model="m")
    assert a.exact_key == b.exact_key
