"""Read LangChain's cache strings (`prompt`, `llm_string`) into the parts of a core request.

Chat models pass `prompt = dumps(messages)` and, when serializable,
`llm_string = json.dumps(serialized model) + "---" + str(sorted(call kwargs))`; other chat
models and text LLMs pass `str(sorted(params))`. Anything else is kept verbatim, exact-only.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)

from .revive import Reviver

# Plain data classes only: nothing with side effects in its constructor may be revived.
MESSAGE_CLASSES: tuple[type[BaseMessage], ...] = (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
)
_ROLES: tuple[tuple[type[BaseMessage], str], ...] = (
    (HumanMessage, "human"),
    (AIMessage, "ai"),
    (SystemMessage, "system"),
    (ToolMessage, "tool"),
    (FunctionMessage, "function"),
)
_MESSAGES = Reviver(MESSAGE_CLASSES)
# Plain-text turns of these classes are read straight from the JSON (see `_plain_messages`).
_PLAIN_PATHS: dict[tuple[str, ...], tuple[str, str]] = {
    tuple(cls.lc_id()): (role, type_)
    for cls, role, type_ in (
        (HumanMessage, "human", "human"),
        (AIMessage, "ai", "ai"),
        (SystemMessage, "system", "system"),
    )
}
_PLAIN_FIELDS = frozenset({"content", "type", "id", "name"})
_EMPTY_FIELDS = frozenset(
    {"tool_calls", "invalid_tool_calls", "additional_kwargs", "response_metadata"}
)
# Constructor fields that name the model; together with the class they are its identity.
MODEL_NAME_KEYS = ("model", "model_name", "model_id", "deployment_name", "azure_deployment")


@dataclass(frozen=True)
class ParsedCall:
    """One LangChain call as the core wants it; `exact_only` if the strings were not understood."""

    messages: list[dict[str, Any]]
    model: str
    params: dict[str, Any]
    tools: Any = None
    exact_only: bool = False


def parse_call(prompt: str, llm_string: str) -> ParsedCall:
    """Split a LangChain (prompt, llm_string) pair; never raises on unknown formats."""
    llm = _parsed_llm_string(llm_string)
    if llm is None:
        return raw_call(prompt, llm_string)
    model, params, tools, opaque = llm
    messages = parse_messages(prompt)
    if messages is None:  # a text LLM: the prompt is the user's text
        messages = [{"role": "user", "content": prompt}]
    return ParsedCall(messages, model, dict(params), tools, exact_only=opaque)


@functools.lru_cache(maxsize=256)
def _parsed_llm_string(llm_string: str) -> tuple[str, dict[str, Any], Any, bool] | None:
    """`_parse_llm_string`, remembered: a process sees a handful of models, each call pays
    a JSON decode and a Python parse otherwise. Callers must not mutate the result."""
    return _parse_llm_string(llm_string)


def raw_call(prompt: str, llm_string: str) -> ParsedCall:
    """Exact-only caching of two opaque strings: no normalization may merge them either."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()
    return ParsedCall(
        [{"role": "user", "content": prompt}],
        model=f"langchain-raw:{llm_string}",
        params={"raw_prompt_sha256": digest},
        exact_only=True,
    )


# -- prompt ------------------------------------------------------------------------------------
def parse_messages(prompt: str) -> list[dict[str, Any]] | None:
    """LangChain's message JSON as role/content dicts, or None if `prompt` is not that."""
    if not prompt.lstrip().startswith("[{"):
        return None
    plain = _plain_messages(prompt)
    return plain if plain is not None else _revived_messages(prompt)


def _plain_messages(prompt: str) -> list[dict[str, Any]] | None:
    """The common prompt, turns of plain text, read from the JSON without reviving LangChain
    objects (which costs more than the rest of a lookup): exactly the dicts `message_dict`
    makes of the revived messages, or None when any turn has more than text, id and name."""
    try:
        raw = orjson.loads(prompt)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, list) or not raw:
        return None
    out: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or item.get("lc") != 1 or item.get("type") != "constructor":
            return None
        path = item.get("id")
        kind = _PLAIN_PATHS.get(tuple(path)) if isinstance(path, list) else None
        kwargs = item.get("kwargs")
        if kind is None or not isinstance(kwargs, dict):
            return None
        role, type_ = kind
        for key, value in kwargs.items():
            if key in _PLAIN_FIELDS or (key in _EMPTY_FIELDS and value in ([], {})):
                continue
            return None
        content, name = kwargs.get("content"), kwargs.get("name")
        if (
            not isinstance(content, str)
            or kwargs.get("type", type_) != type_
            or not isinstance(name, (str, type(None)))
            or not isinstance(kwargs.get("id"), (str, type(None)))
        ):
            return None
        message: dict[str, Any] = {"role": role, "content": content}
        if name:
            message["name"] = name
        out.append(message)
    return out


def _revived_messages(prompt: str) -> list[dict[str, Any]] | None:
    try:
        revived = _MESSAGES.loads(prompt)
    except Exception:
        return None
    if not isinstance(revived, list) or not revived:
        return None
    if not all(isinstance(m, BaseMessage) for m in revived):
        return None
    return [message_dict(m) for m in revived]


def message_dict(message: BaseMessage) -> dict[str, Any]:
    """The parts of a message that change an answer (no ids, usage or response metadata)."""
    if isinstance(message, ChatMessage):
        role = message.role
    else:
        role = next((name for cls, name in _ROLES if isinstance(message, cls)), message.type)
    out: dict[str, Any] = {"role": role, "content": _content(message.content)}
    if message.name:
        out["name"] = message.name
    if isinstance(message, AIMessage):
        if message.tool_calls:
            out["tool_calls"] = [
                {"name": c["name"], "args": c["args"], "id": c.get("id")}
                for c in message.tool_calls
            ]
        if message.invalid_tool_calls:
            out["invalid_tool_calls"] = [
                {"name": c.get("name"), "args": c.get("args"), "id": c.get("id")}
                for c in message.invalid_tool_calls
            ]
    function_call = message.additional_kwargs.get("function_call")
    if function_call:  # legacy OpenAI function calling
        out["function_call"] = function_call
    if not isinstance(message, AIMessage):
        # What a caller sends can change the answer; a response's extras (ids, refusals, parsed
        # output) come back with each replay and are not part of the question.
        extra = {k: v for k, v in message.additional_kwargs.items() if k != "function_call"}
        if extra:
            out["additional_kwargs"] = extra
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
        if message.status != "success":
            out["status"] = message.status
    return out


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    # Standard content blocks carry per-run ids, like messages do: they are not the meaning.
    return [
        {k: v for k, v in block.items() if k != "id"} if isinstance(block, Mapping) else block
        for block in content
    ]


# -- llm_string --------------------------------------------------------------------------------
def _parse_llm_string(llm_string: str) -> tuple[str, dict[str, Any], Any, bool] | None:
    """(model identity, params, tools, opaque) or None when the format is unknown."""
    serialized = _split_serialized(llm_string)
    if serialized is not None:
        model_json, call_text = serialized
        kwargs = model_json.get("kwargs")
        fields = _without_secrets(kwargs) if isinstance(kwargs, dict) else {}
        class_path = ".".join(str(p) for p in model_json.get("id") or ["unknown"])
        model = _identity(class_path, fields)
        call = parse_items(call_text)
        if call is None:  # unreadable call kwargs: keep them verbatim, exact-only
            return model, {**fields, "call_kwargs": call_text}, None, True
        call = _without_secrets(call)
        tools = call.pop("tools", None)
        return model, {**fields, **call}, tools, False
    items = parse_items(llm_string)
    if items is None:
        return None
    items = _without_secrets(items)
    tools = items.pop("tools", None)
    model = _identity(str(items.pop("_type", None) or "unknown"), items)
    return model, items, tools, False


def _split_serialized(llm_string: str) -> tuple[dict[str, Any], str] | None:
    if not llm_string.startswith("{"):
        return None
    try:
        obj, end = json.JSONDecoder().raw_decode(llm_string)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not llm_string.startswith("---", end):
        return None
    return obj, llm_string[end + 3 :]


def _identity(class_path: str, fields: dict[str, Any]) -> str:
    """Class plus model name; the name keys leave `fields` (they are identity, not params)."""
    names = [f"{k}={fields.pop(k)}" for k in MODEL_NAME_KEYS if k in fields]
    return ":".join([class_path, *names])


def parse_items(text: str) -> dict[str, Any] | None:
    """`str(sorted(d.items()))` back to a dict, without evaluating code.

    Values that are not Python literals (reprs of objects) are kept as their source text.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(tree.body, ast.List):
        return None
    out: dict[str, Any] = {}
    for element in tree.body.elts:
        if not isinstance(element, ast.Tuple) or len(element.elts) != 2:
            return None
        key_node, value_node = element.elts
        if not isinstance(key_node, ast.Constant) or not isinstance(key_node.value, str):
            return None
        try:
            value: Any = ast.literal_eval(value_node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = ast.unparse(value_node)
        out[key_node.value] = value
    return out


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("lc") == 1 and value.get("type") == "secret"


def _without_secrets(value: Any) -> Any:
    """Drop LangChain secret markers at any depth (secret-named keys are dropped by the core)."""
    if isinstance(value, Mapping):
        return {str(k): _without_secrets(v) for k, v in value.items() if not _is_secret(v)}
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value if not _is_secret(v)]
    return value
