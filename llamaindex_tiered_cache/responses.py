"""Responses <-> cache payloads (JSON, never pickle), and how hits and streams are shaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    TextBlock,
)
from tiered_cache import CacheHit
from tiered_cache.options import replay_pieces

Response = TypeVar("Response", ChatResponse, CompletionResponse)

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


def mark_hit(response: Response, hit: CacheHit) -> Response:
    """Record in `additional_kwargs` which tier served the response and how similar it was."""
    response.additional_kwargs = {
        **response.additional_kwargs,
        CACHE_KEY: {
            "tier": hit.tier,
            "similarity": hit.similarity,
            "matched_query": hit.matched_query,
        },
    }
    return response


def stream_chunks(response: Response) -> list[Response]:
    """A cached response replayed as a stream, as LangChain's `cached` replays one (the same
    pieces: `tiered_cache.options.replay_pieces`): each chunk's `delta` a word, its text the
    text so far; the last chunk is the whole response (metadata, tool calls) with its delta."""
    if isinstance(response, ChatResponse):
        text = response.message.content or ""
    else:
        text = response.text or ""
    *pieces, last = replay_pieces(text)
    chunks: list[Any] = []
    sofar = ""
    for piece in pieces:
        sofar += piece
        if isinstance(response, ChatResponse):
            message = ChatMessage(role=response.message.role, content=sofar)
            chunks.append(ChatResponse(message=message, delta=piece))
        else:
            chunks.append(CompletionResponse(text=sofar, delta=piece))
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
