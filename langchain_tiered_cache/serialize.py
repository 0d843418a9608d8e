"""Generations to and from the payload string: LangChain's JSON (`dumps`/`loads`), never pickle."""

from __future__ import annotations

import functools
import itertools
import json
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.load import Serializable, dumps
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from tiered_cache import CacheHit

from .parse import MESSAGE_CLASSES
from .revive import Reviver, copier, fresh_copy

# Only plain data classes may be revived from a payload (a shared Redis is not fully trusted).
PAYLOAD_CLASSES: tuple[type[Serializable], ...] = (
    Generation,
    ChatGeneration,
    GenerationChunk,
    ChatGenerationChunk,
    *MESSAGE_CLASSES,
)
_PAYLOAD = Reviver(PAYLOAD_CLASSES)
_REMEMBER_MAX_CHARS = 16_384
"""Larger payloads are revived on every hit rather than held in memory."""
_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def dump_generations(generations: Sequence[Generation]) -> str:
    """The payload for `generations`, in order."""
    return dumps(list(generations))


def load_generations(payload: str) -> list[Generation] | None:
    """The generations of a payload, or None unless it is a non-empty list of generations.

    Each call returns new objects: callers (and `mark_hit`) may change them.
    """
    if len(payload) <= _REMEMBER_MAX_CHARS:
        template = _remembered(payload)
        return None if template is None else template.copy()
    revived = _revive(payload)
    return None if revived is None else list(revived)


def _revive(payload: str) -> tuple[Generation, ...] | None:
    revived = _PAYLOAD.loads(payload)
    if not isinstance(revived, list) or not revived:  # LangChain would serve [] as a hit
        return None
    if not all(isinstance(g, Generation) for g in revived):
        return None
    return tuple(revived)


class _Template:
    """Generations revived once and never handed out: each caller gets a copy. The first copy
    is a plain deep copy; from the second on, a compiled copier (faster per copy, costlier to
    build: worth it only for a payload served again)."""

    __slots__ = ("copiers", "generations", "served")

    def __init__(self, generations: tuple[Generation, ...]) -> None:
        self.generations = generations
        self.copiers: tuple[Callable[[], Generation], ...] | None = None
        self.served = False

    def copy(self) -> list[Generation]:
        copiers = self.copiers
        if copiers is None:
            if not self.served:
                self.served = True
                return [fresh_copy(g) for g in self.generations]
            copiers = self.copiers = tuple(copier(g) for g in self.generations)
        return [copy() for copy in copiers]


@functools.lru_cache(maxsize=256)
def _remembered(payload: str) -> _Template | None:
    """A hit served again is copied from the generations revived the first time."""
    revived = _revive(payload)
    return None if revived is None else _Template(revived)


def usage_of(generations: Sequence[Generation]) -> dict[str, int] | None:
    """Token usage summed over the generations' messages, for the core's savings report."""
    total: dict[str, int] = {}
    for generation in generations:
        message = getattr(generation, "message", None)
        usage: Any = getattr(message, "usage_metadata", None) or {}
        for key in _USAGE_KEYS:
            value = usage.get(key)
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total or None


def mark_hit(generations: list[Generation], hit: CacheHit) -> None:
    """Tell the caller which tier answered, in each chat message's `response_metadata`.

    Plain `Generation`s have no message and stay exactly as stored.
    """
    info = {
        "hit": True,
        "tier": hit.tier,
        "similarity": hit.similarity,
        "matched_query": hit.matched_query,
    }
    for generation in generations:
        if isinstance(generation, ChatGeneration):
            generation.message.response_metadata["tiered_cache"] = dict(info)


def renew_ids(generations: list[Generation], *, assign: bool) -> None:
    """Give a hit's messages new ids, as a new call's would have: LangGraph merges messages with
    equal ids (a fan-out asking one question twice would keep one answer). `assign=False` leaves
    the id unset for LangChain to fill (a chat model's run names its message `lc_run-<run id>`)."""
    for generation in generations:
        if isinstance(generation, ChatGeneration):
            generation.message.id = new_id() if assign else None


def new_id() -> str:
    """A message id unique across processes and calls, shaped as LangChain's `lc_<uuid4>`: a
    random prefix drawn once per process (again in a forked child) and a counter. A fresh
    uuid4 per hit cost 2.6 µs of an exact hit's ~17 through `set_llm_cache`; this costs 0.3."""
    return f"{_id_prefix}{next(_id_count):012x}"


def _new_id_prefix() -> None:
    global _id_prefix, _id_count
    h = uuid.uuid4().hex
    _id_prefix = f"lc_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
    _id_count = itertools.count()


_id_prefix = ""
_id_count = itertools.count()
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def answer_text(payload: str) -> str:
    """What stored generations answer, for an audit's comparison: their text and tool calls by
    name and arguments (not ids, metadata or token counts, which differ between right answers)."""
    generations = load_generations(payload) or []
    parts: list[str] = []
    for generation in generations:
        parts.append(generation.text)
        message = getattr(generation, "message", None)
        for call in getattr(message, "tool_calls", None) or []:
            parts.append(json.dumps({"tool": call.get("name"), "args": call.get("args")},
                                    sort_keys=True, default=str))  # fmt: skip
    return "\n".join(parts).strip()
