"""Responses <-> cache payloads (JSON, never pickle), and how hits and streams are shaped."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    TextBlock,
    ToolCallBlock,
)
from tiered_cache import CacheHit
from tiered_cache.streams import replay_pieces

Response = TypeVar("Response", ChatResponse, CompletionResponse)
R = TypeVar("R", bound=ChatResponse | CompletionResponse)

CACHE_KEY = "tiered_cache"
"""The `additional_kwargs` key that tells a caller a response came from the cache, and how."""

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class NotCacheable(ValueError):
    """A response that would not come back as it went in: it is returned, never stored."""


def _objects(value: Any, path: str) -> str | None:
    """The path of the first value that is not plain JSON data (None when all are)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _objects(v, f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _objects(v, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"{path} ({type(value).__name__})"


def encode(response: ChatResponse | CompletionResponse) -> str:
    """The JSON payload of a final response (`raw` is provider-specific and left out).

    Raises NotCacheable when `additional_kwargs` hold provider objects: JSON would bring them
    back as dicts, and code that reads them by attribute would fail on a hit only."""
    found = _objects(response.additional_kwargs, "additional_kwargs")
    if found is None and isinstance(response, ChatResponse):
        found = _objects(response.message.additional_kwargs, "message.additional_kwargs")
    if found:
        raise NotCacheable(f"not cached: {found} is an object, not JSON data")
    clean = response.model_copy(update={"delta": None})
    return clean.model_dump_json(exclude={"raw"})


def decode(payload: str, kind: type[Response]) -> Response:
    """A response of type `kind` from its payload; raises on foreign or corrupt payloads."""
    return kind.model_validate_json(payload)


def answer_of(payload: str, kind: type[Response]) -> str:
    """What a stored response answers, for an audit's comparison: its text, and its tool calls
    by name and arguments (not ids or token counts, which differ between right answers)."""
    response = decode(payload, kind)
    if not isinstance(response, ChatResponse):
        return response.text
    calls: list[str] = [
        json.dumps({"tool": b.tool_name, "args": b.tool_kwargs}, sort_keys=True, default=str)
        for b in response.message.blocks
        if isinstance(b, ToolCallBlock)
    ]
    return "\n".join([response.message.content or "", *calls]).strip()


def hit_marker(hit: CacheHit) -> dict[str, Any]:
    """How a response was served: the tier, the similarity of the stored question, that
    question, and whether it was another concurrent caller's answer (`coalesced`)."""
    return {
        "tier": hit.tier,
        "similarity": hit.similarity,
        "matched_query": hit.matched_query,
        "coalesced": hit.coalesced,
    }


def mark(response: R, marker: Mapping[str, Any]) -> R:
    """Put `marker` where callers and agents look: the response's `additional_kwargs`, its
    `raw` (an agent's `AgentOutput.raw` / `AgentStream.raw`) and, for chat, the message's
    `additional_kwargs` (`AgentOutput.response`). The wrapper strips it from the messages it
    sends on (`strip_marks`), and keys ignore it."""
    marker = dict(marker)
    response.additional_kwargs = {**response.additional_kwargs, CACHE_KEY: marker}
    raw = response.raw
    if raw is None or isinstance(raw, Mapping):
        response.raw = {**(raw or {}), CACHE_KEY: marker}
    if isinstance(response, ChatResponse):
        message = response.message
        message.additional_kwargs = {**message.additional_kwargs, CACHE_KEY: marker}
    return response


def mark_hit(response: Response, hit: CacheHit) -> Response:
    """Record on the response which tier served it and how similar it was (see `mark`)."""
    return mark(response, hit_marker(hit))


def strip_marks(messages: Sequence[ChatMessage]) -> Sequence[ChatMessage]:
    """The messages without our hit marker (a replayed message kept in an agent's memory
    carries it; a provider that forwards `additional_kwargs` must never receive it)."""
    if not any(CACHE_KEY in m.additional_kwargs for m in messages):
        return messages
    return [
        m.model_copy(
            update={
                "additional_kwargs": {
                    k: v for k, v in m.additional_kwargs.items() if k != CACHE_KEY
                }
            }
        )
        if CACHE_KEY in m.additional_kwargs
        else m
        for m in messages
    ]


def stream_chunks(response: Response) -> list[Response]:
    """A cached response replayed as a stream, as LangChain's `cached` replays one (the same
    pieces: `tiered_cache.streams.replay_pieces`): each chunk's `delta` a word, its text the
    text so far; the last chunk is the whole response (metadata, tool calls) with its delta.
    Each chunk carries the response's hit marker (see `mark`)."""
    if isinstance(response, ChatResponse):
        text = response.message.content or ""
    else:
        text = response.text or ""
    marker = response.additional_kwargs.get(CACHE_KEY)
    *pieces, last = replay_pieces(text)
    chunks: list[Any] = []
    sofar = ""
    for piece in pieces:
        sofar += piece
        chunk: ChatResponse | CompletionResponse
        if isinstance(response, ChatResponse):
            message = ChatMessage(role=response.message.role, content=sofar)
            chunk = ChatResponse(message=message, delta=piece)
        else:
            chunk = CompletionResponse(text=sofar, delta=piece)
        chunks.append(chunk if marker is None else mark(chunk, marker))
    chunks.append(response.model_copy(update={"delta": last}))
    return chunks


def final_from_stream(last: Response, deltas: list[str]) -> Response:
    """The complete response a finished stream amounts to (its last chunk, text made whole)."""
    joined = "".join(deltas)
    if isinstance(last, ChatResponse):
        message = last.message
        if not message.content and joined and all(isinstance(b, TextBlock) for b in message.blocks):
            message = message.model_copy(update={"blocks": [TextBlock(text=joined)]})
        return last.model_copy(update={"message": message, "delta": None, "raw": None})
    text = last.text or joined
    return last.model_copy(update={"text": text, "delta": None, "raw": None})


def usage_of(response: ChatResponse | CompletionResponse) -> dict[str, int] | None:
    """Token usage of the original call when the provider reported it (for savings stats)."""
    sources: list[Any] = [response.additional_kwargs]
    try:
        raw = response.raw
        raw_usage = raw.get("usage") if isinstance(raw, Mapping) else getattr(raw, "usage", None)
        if raw_usage is not None:
            sources.append(raw_usage if isinstance(raw_usage, Mapping) else vars(raw_usage))
    except Exception:  # provider objects of any shape: usage is optional
        pass
    for source in sources:
        if isinstance(source, Mapping):
            found = {k: source[k] for k in _USAGE_KEYS if isinstance(source.get(k), int)}
            if found:
                return found
    return None
