"""The partition: everything of a call that must match exactly for any hit.

A request is split in two: the question of its final user turn, compared by meaning, and the
rest (model, output parameters, tools, system prompt, earlier turns as `history` says, the
final turn's images, files, name and template, an agent's tool steps), which must match exactly.
These are the rules of that split; `request.py` assembles a `CacheRequest` with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..keys import digest
from .question import isolate_question

# Parameters that never change what a model answers: they never enter a key.
NEUTRAL_PARAMS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "organization",
        "timeout",
        "request_timeout",
        "max_retries",
        "retries",
        "callbacks",
        "callback_manager",
        "stream",
        "streaming",
        "stream_usage",
        "verbose",
        "tags",
        "metadata",
        "cache",
        "http_client",
        "http_async_client",
        "default_headers",
        "default_query",
        "run_name",
        "run_id",
        "rate_limiter",
        "disable_streaming",
        "client",
        "async_client",
    }
)
_SECRET_PARAM = re.compile(r"(api_?key|secret|password|access_token|auth)", re.IGNORECASE)


def output_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that can change the output: neutral and secret-bearing ones removed."""
    return {
        k: v
        for k, v in params.items()
        if k not in NEUTRAL_PARAMS and not _SECRET_PARAM.search(str(k)) and v is not None
    }


def split_final_turn(last: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(the question to compare by meaning, everything else of the final turn).

    Only the question text of a user turn is compared by meaning; its other parts (images,
    audio and files by digest, the speaker's name, any provider field, the template and context
    around the question) must match exactly, so they go into the partition."""
    content = last["content"]
    rest: dict[str, Any] = {k: v for k, v in last.items() if k != "content"}
    if isinstance(content, str):
        text = content
    else:
        texts: list[str] = []
        shape: list[Any] = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
                shape.append("text")
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                texts.append(block["text"])
                shape.append({k: v for k, v in block.items() if k != "text"})
            else:  # an image, audio, a file...: its bytes or URL decide, by digest
                shape.append({"digest": digest(block)})
        text = "\n".join(texts)
        rest["content"] = shape
    if last["role"] != "user":
        return None, rest
    question = isolate_question(text)
    if question is None:  # templated, no question stands apart: exact-only
        rest["template"] = text
        return None, rest
    if question.template:
        rest["template"] = question.template
    return question.text or None, rest


def tool_steps(normalized: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """(the index of the turn that asks, the agent's steps after it). A conversation that ends
    in tool results after the last user turn (an assistant's tool calls, the tools' results) is
    an agent's later step: its question is that user turn's, and the steps stay exact (the same
    calls, the same results). Anything else: the final turn asks, no steps."""
    final = len(normalized) - 1
    if normalized[final]["role"] != "tool":
        return final, []
    for i in range(final - 1, -1, -1):
        message = normalized[i]
        if message["role"] == "user":
            return i, normalized[i + 1 :]
        if message["role"] != "tool" and not (
            message["role"] == "assistant" and message.get("tool_calls")
        ):
            return final, []
    return final, []
