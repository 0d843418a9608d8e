"""LlamaIndex chat messages -> the core's message dicts (the shape the LangChain adapter builds).

Each message becomes `{"role", "content", "tool_calls"?, "tool_call_id"?, "name"?}`: content is the
text when a message holds only text, else a list of `{"type": ..., ...}` blocks; tool calls are
`{"name", "args", "id"}` as the LangChain adapter writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from llama_index.core.base.llms.types import ChatMessage, TextBlock, ToolCallBlock

from .identity import describe

# `additional_kwargs` entries read into their own fields above.
_READ_FIELDS = frozenset({"tool_calls", "tool_call_id", "name"})


def _tool_call(tool_id: Any, name: Any, args: Any) -> dict[str, Any]:
    if isinstance(args, str):
        with contextlib.suppress(orjson.JSONDecodeError):  # partial arguments: keyed as given
            args = orjson.loads(args)
    return {"name": name, "args": describe(args), "id": tool_id}


def _legacy_tool_call(call: Any) -> dict[str, Any]:
    """An OpenAI-style tool call kept in `additional_kwargs["tool_calls"]` (object or dict)."""
    data = describe(call)
    if not isinstance(data, Mapping):
        return {"name": None, "args": data, "id": None}
    function = data.get("function")
    if isinstance(function, Mapping):
        return _tool_call(data.get("id"), function.get("name"), function.get("arguments"))
    return _tool_call(data.get("id"), data.get("name"), data.get("args", data.get("arguments")))


def _block(block: Any) -> dict[str, Any]:
    try:
        data = block.model_dump(mode="json")
    except Exception:  # e.g. binary payloads that are not valid UTF-8
        raw = repr(block.model_dump()).encode()
        data = {
            "block_type": getattr(block, "block_type", "unknown"),
            "sha256": hashlib.sha256(raw).hexdigest(),
        }
    kind = data.pop("block_type", type(block).__name__)
    return {"type": kind, **data}


def message_to_dict(message: ChatMessage) -> dict[str, Any]:
    """One ChatMessage as the core's message mapping."""
    role = message.role.value if hasattr(message.role, "value") else str(message.role)
    out: dict[str, Any] = {"role": role}
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    only_text = True
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
            blocks.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolCallBlock):
            tool_calls.append(_tool_call(block.tool_call_id, block.tool_name, block.tool_kwargs))
        else:
            only_text = False
            blocks.append(_block(block))
    out["content"] = "\n".join(texts) if only_text else blocks
    extra = message.additional_kwargs or {}
    legacy = extra.get("tool_calls")
    if isinstance(legacy, Sequence) and not isinstance(legacy, (str, bytes)):
        tool_calls.extend(_legacy_tool_call(call) for call in legacy)
    if tool_calls:
        out["tool_calls"] = tool_calls
    if extra.get("tool_call_id") is not None:
        out["tool_call_id"] = str(extra["tool_call_id"])
    if isinstance(extra.get("name"), str):
        out["name"] = extra["name"]
    if role != "assistant":  # what a caller sent can change the answer; a response's extras
        # (usage, ids, our hit marker) cannot, and would split conversations that replay it
        others = {k: v for k, v in extra.items() if k not in _READ_FIELDS}
        if others:
            out["additional_kwargs"] = describe(others)
    return out


def messages_to_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """A conversation as the core's message list."""
    return [message_to_dict(m) for m in messages]


def prompt_to_dicts(prompt: str) -> list[dict[str, Any]]:
    """A completion prompt: one user message."""
    return [{"role": "user", "content": prompt}]
