"""What identifies a model, and which of its settings and call arguments can change its output.

Everything here ends up in a cache partition, so it must be stable JSON: plain values are kept,
objects are reduced to a stable description (a tool to its schema, a pydantic class to its
JSON schema), and anything without one falls back to `repr`, which at worst causes misses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel
from tiered_cache.rules.partition import output_params

_SKIP = object()

# Fields of LlamaIndex base classes that never change what a model answers.
_NEUTRAL_FIELDS = frozenset(
    {
        "callback_manager",
        "rate_limiter",
        "output_parser",
        "pydantic_program_mode",
        "embeddings_cache",
        "embed_batch_size",
        "num_workers",
    }
)
# Prompt hooks are callables: identified by their qualified name.
_CALLABLE_FIELDS = ("messages_to_prompt", "completion_to_prompt")


def _plain(value: Any, depth: int = 0) -> Any:
    """`value` if it is plain JSON data (enums as their values), else `_SKIP`."""
    if depth > 20:
        return _SKIP
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Enum):
        return _plain(value.value, depth + 1)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            item = _plain(v, depth + 1)
            if not isinstance(k, str) or item is _SKIP:
                return _SKIP
            out[k] = item
        return out
    if isinstance(value, (list, tuple)):
        items = [_plain(v, depth + 1) for v in value]
        return _SKIP if any(i is _SKIP for i in items) else items
    return _SKIP


def callable_name(fn: Any) -> str:
    """A stable name for a function (module + qualified name)."""
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}"


def describe(value: Any, depth: int = 0) -> Any:
    """A stable JSON description of a call argument (tools, response formats, enums, ...)."""
    plain = _plain(value)
    if plain is not _SKIP:
        return plain
    if depth > 20:
        return repr(value)
    if isinstance(value, type) and issubclass(value, BaseModel):
        try:
            return {"json_schema": value.model_json_schema()}
        except Exception:
            return callable_name(value)
    if isinstance(value, BaseModel):
        try:
            return value.model_dump(mode="json")
        except Exception:
            return repr(value)
    metadata = getattr(value, "metadata", None)
    if metadata is not None and callable(getattr(metadata, "get_parameters_dict", None)):
        return describe_tool(value)
    if isinstance(value, Mapping):
        return {str(k): describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [describe(v, depth + 1) for v in value]
    if callable(value):
        return callable_name(value)
    return repr(value)


def describe_tool(tool: Any) -> Any:
    """A LlamaIndex tool as name, description and parameter schema; other tools as data."""
    metadata = getattr(tool, "metadata", None)
    get_parameters = getattr(metadata, "get_parameters_dict", None)
    if metadata is None or not callable(get_parameters):
        return describe(tool)
    try:
        parameters = get_parameters()
    except Exception:
        parameters = repr(getattr(metadata, "fn_schema", None))
    return {
        "name": getattr(metadata, "name", None),
        "description": getattr(metadata, "description", None),
        "parameters": describe(parameters),
    }


def describe_tools(tools: Any) -> Any:
    """The partition's view of a `tools=` argument (None when absent or empty)."""
    if tools is None:
        return None
    if isinstance(tools, Iterable) and not isinstance(tools, (str, bytes, Mapping)):
        described = [describe_tool(t) for t in tools]
        return described or None
    return describe_tool(tools)


def model_fields_params(model: BaseModel, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Output-affecting settings read from a pydantic model's fields.

    Plain values are kept (temperature, max tokens, model, system prompt, ...); clients, secrets
    and framework plumbing are dropped.
    """
    skipped = _NEUTRAL_FIELDS.union(skip)
    params: dict[str, Any] = {}
    for name in type(model).model_fields:
        if name in skipped or name in _CALLABLE_FIELDS:
            continue
        value = _plain(getattr(model, name, None))
        if value is not _SKIP:
            params[name] = value
    for name in _CALLABLE_FIELDS:
        fn = getattr(model, name, None)
        if fn is not None:
            params[name] = callable_name(fn)
    wrapper = getattr(model, "query_wrapper_prompt", None)
    if wrapper is not None:
        get_template: Callable[[], str] | None = getattr(wrapper, "get_template", None)
        params["query_wrapper_prompt"] = get_template() if get_template else repr(wrapper)
    return output_params(params)


# Settings of LLM classes that change their output, re-read on every call: a user who changes one
# on a live model (`llm.temperature = 0.7`) must not be served answers of the old setting. Any
# other field is read once, when the wrapper is built: a custom LLM that keeps state in its
# fields (a call log, a counter) must not get a new key after every call.
SETTING_FIELDS = (
    "model",
    "model_name",
    "temperature",
    "max_tokens",
    "max_new_tokens",
    "num_output",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "stop_sequences",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "response_format",
    "reasoning_effort",
    "system_prompt",
    "context_window",
    "additional_kwargs",
    "logprobs",
    "top_logprobs",
    "n",
    "tool_choice",
    "strict",
    "json_mode",
    "is_chat_model",
    "is_function_calling_model",
)


def live_settings(model: BaseModel) -> dict[str, Any]:
    """The `SETTING_FIELDS` a model has, as they are now (plain values only)."""
    out: dict[str, Any] = {}
    for name in SETTING_FIELDS:
        if name in type(model).model_fields:
            value = _plain(getattr(model, name, None))
            if value is not _SKIP:
                out[name] = value
    return output_params(out)


def call_params(kwargs: Mapping[str, Any], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Per-call keyword arguments, described as stable JSON (neutral ones dropped by the core)."""
    return {k: describe(v) for k, v in kwargs.items() if k not in exclude}


def model_name(model: Any) -> str:
    """The model name a LlamaIndex LLM or embedding reports ("unknown" if none)."""
    metadata = getattr(model, "metadata", None)
    name = getattr(metadata, "model_name", None) if metadata is not None else None
    if not isinstance(name, str) or name == "unknown":
        name = getattr(model, "model_name", None) or getattr(model, "model", None) or name
    return str(name) if name is not None else "unknown"


def model_identity(model: Any) -> str:
    """Inner class name + model name, e.g. `OpenAI:gpt-4o-mini`."""
    return f"{type(model).__name__}:{model_name(model)}"
