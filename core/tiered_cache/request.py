"""CacheRequest: the normalized view of one LLM call, split into partition and query text."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config import CacheConfig
from .conversation import Conversation, Standalone, read_history
from .errors import InvalidRequestError
from .keys import canonicalize, digest, digest_canonical
from .normalize import Normalizer
from .rules.partition import output_params, split_final_turn, tool_steps

# A message's id names an instance, not its meaning. Other frameworks' fields (LangChain's
# response and usage metadata, say) are the adapters' to drop when they build the messages.
_VOLATILE_MESSAGE_FIELDS = frozenset({"id"})
# Providers name the chat roles differently (OpenAI's "developer", Gemini's "model", Cohere's
# "chatbot", "human"/"ai" in LangChain's messages): a direct caller may pass any of them, and
# the partition must not care which.
_ROLE_ALIASES = {
    "human": "user",
    "ai": "assistant",
    "chatbot": "assistant",
    "model": "assistant",
    "developer": "system",
}


@dataclass(frozen=True)
class CacheRequest:
    """One LLM call as the cache sees it.

    `partition` must match exactly for any hit: everything of the call but the question of its
    final user turn. `query_text` (that question) is what the semantic tier embeds, or None when
    no question can be isolated (the call ends in another role, or in a templated turn).
    """

    partition: Mapping[str, Any]
    partition_key: str
    query_text: str | None
    exact_key: str
    deterministic: bool
    threshold: float | None = None
    """This call's similarity threshold (None: the cache's); never part of a key."""
    context: tuple[tuple[str, str], ...] = ()
    """`history="relevant"`: the earlier turns (role, text) that must match a stored entry's
    by meaning, turn against turn (conversation.py); () when none is compared."""
    conversation: Conversation | None = None
    """How `history="relevant"` read the earlier turns (None: the history is exact)."""

    @property
    def semantic_allowed(self) -> bool:
        return self.deterministic and bool(self.query_text)


class _ToolCallIds:
    """Renames provider-generated tool-call ids by order of appearance, so that a replayed
    conversation (new ids, same calls) keys the same."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return self._names.setdefault(value, f"call_{len(self._names)}")


def _normalize_message(
    message: Mapping[str, Any], normalize: Normalizer, ids: _ToolCallIds
) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        raise InvalidRequestError(
            f"a message must be a mapping with role and content, got {type(message).__name__}"
        )
    role = message.get("role")
    if not isinstance(role, str) or not role:
        raise InvalidRequestError("every message needs a non-empty string 'role'")
    content = message.get("content", "")
    if isinstance(content, str):
        norm_content: Any = normalize(content)
    elif isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        norm_content = [
            {**b, "text": normalize(b["text"])}
            if isinstance(b, Mapping) and isinstance(b.get("text"), str)
            else b
            for b in content
        ]
    else:
        raise InvalidRequestError(
            f"message content must be a string or a list of blocks, got {type(content).__name__}"
        )
    out: dict[str, Any] = {"role": _ROLE_ALIASES.get(role, role), "content": norm_content}
    for key, value in message.items():
        if key in ("role", "content") or key in _VOLATILE_MESSAGE_FIELDS or value in (None, [], {}):
            continue
        if key == "tool_calls" and isinstance(value, Sequence):
            value = [
                {**call, "id": ids(call.get("id"))} if isinstance(call, Mapping) else call
                for call in value
            ]
        elif key == "tool_call_id":
            value = ids(value)
        out[key] = value
    return out


PARTITION_KEY_CHARS = 32
"""Hex digits of a partition key (128 bits of a SHA-256)."""


def build_request(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str,
    params: Mapping[str, Any] | None = None,
    tools: Any = None,
    namespace: str = "default",
    cache_version: int = 1,
    normalizer: Normalizer | None = None,
    max_semantic_temperature: float | None = 0.0,
    semantic_max_chars: int | None = None,
    history: str = "exact",
    standalone: Standalone | None = None,
) -> CacheRequest:
    """Build a CacheRequest from chat messages (role + content), the model identity and parameters.

    `history="exact"`: every earlier turn is in the partition; `"relevant"`: only the turns
    that can change the answer are compared, by meaning (conversation.py), and `standalone`
    (an app's rewrite of a dependent question) may replace the question.

    A request is deterministic (eligible for semantic hits and semantic storage) when its
    temperature is unset or at most `max_semantic_temperature` (None: always) and its final
    user turn is at most `semantic_max_chars` long (None: any length).
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise InvalidRequestError(
            "messages must be a non-empty list of {'role', 'content'} mappings"
        )
    if not isinstance(model, str):
        raise InvalidRequestError("model must be a string identifying the model")
    normalize = normalizer or Normalizer()
    ids = _ToolCallIds()
    normalized = [_normalize_message(m, normalize, ids) for m in messages]
    kept = output_params(params or {})
    asked = len(normalized) - 1
    steps: list[dict[str, Any]] = []
    if history == "relevant":
        asked, steps = tool_steps(normalized)
    last = normalized[asked]
    query_text, final_turn = split_final_turn(last)
    if steps:  # an agent's tool calls and results after the question: exact, in the partition
        final_turn["tool_steps"] = steps
    earlier: list[dict[str, Any]] = normalized[:asked]
    conversation = None
    context: tuple[tuple[str, str], ...] = ()
    if history == "relevant" and query_text and earlier:
        conversation, earlier, context, query_text = _relevant(
            normalized[: asked + 1], query_text, normalize, standalone
        )
    fields: dict[str, Any] = {
        "namespace": namespace,
        "cache_version": cache_version,
        "model": model,
        "params": kept,
        "tools": tools,
        "history": earlier,
        "final_turn": final_turn,
    }
    if context:  # their roles must match exactly; their texts, by meaning
        fields["context_roles"] = [role for role, _ in context]
    partition = canonicalize(fields)
    partition_key = digest_canonical(partition)[:PARTITION_KEY_CHARS]
    temperature = kept.get("temperature")
    if max_semantic_temperature is None or temperature is None:
        deterministic = True
    else:
        try:
            deterministic = float(temperature) <= max_semantic_temperature
        except (TypeError, ValueError):
            deterministic = False
    if semantic_max_chars is not None and query_text and len(query_text) > semantic_max_chars:
        deterministic = False
    exact: dict[str, Any] = {"partition": partition_key, "last": last}
    if context:
        exact["context"] = [list(turn) for turn in context]
    return CacheRequest(
        partition=partition,
        partition_key=partition_key,
        query_text=query_text or None,
        exact_key=digest(exact),
        deterministic=deterministic,
        context=context,
        conversation=conversation,
    )


def _relevant(
    normalized: list[dict[str, Any]],
    question: str,
    normalize: Normalizer,
    standalone: Standalone | None,
) -> tuple[Conversation | None, list[dict[str, Any]], tuple[tuple[str, str], ...], str]:
    """`history="relevant"`: (the reading, the earlier turns kept exact, the turns compared by
    meaning, the question). A history the rules cannot read stays exact."""
    earlier = normalized[:-1]
    conversation = read_history(earlier, question)
    if conversation is None:
        return None, earlier, (), question
    system = [m for m, t in zip(earlier, conversation.turns, strict=True) if t.kind == "system"]
    if not conversation.standalone and standalone is not None:
        rewrite = standalone(normalized)
        if isinstance(rewrite, str) and normalize(rewrite).strip():
            # The rewrite is the question; the turns it drew on stay, exact.
            drawn = [m for m, t in zip(earlier, conversation.turns, strict=True) if t.compared]
            read = dataclasses.replace(conversation, rewritten=True)
            return read, system + drawn, (), normalize(rewrite).strip()
    return conversation, system, conversation.context, question


def request_for(
    cfg: CacheConfig,
    normalizer: Normalizer,
    messages: Sequence[Mapping[str, Any]] | str,
    model: str,
    params: Mapping[str, Any] | None = None,
    tools: Any = None,
) -> CacheRequest:
    """`build_request` with a cache's settings; a plain string is one user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    size = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, Mapping))
    if size > cfg.max_prompt_chars:
        raise InvalidRequestError(
            f"prompt of {size} characters exceeds max_prompt_chars={cfg.max_prompt_chars}"
        )
    return build_request(
        messages,
        model=model,
        params=params,
        tools=tools,
        namespace=cfg.namespace,
        cache_version=cfg.cache_version,
        normalizer=normalizer,
        max_semantic_temperature=cfg.max_semantic_temperature,
        semantic_max_chars=cfg.semantic_max_chars,
        history=cfg.history,
        standalone=cfg.standalone,
    )
