"""Per-call options (`tiered_cache.options.CallOptions`) as LangChain passes them: in the
metadata of a run's config, `config={"metadata": {"tiered_cache": {"bypass": True}}}`.

A `BaseCache` sees only two strings, so under `set_llm_cache` the options are read from the
config LangChain keeps in its context variable while a chain, graph or agent runs a step. A
bare `model.invoke(...)` sets none: `with call_options(bypass=True): model.invoke(...)` puts
them there. A keyword `tiered_cache=` works only with `cached(model)`, which removes it before
the model sees it; under `set_llm_cache` a keyword would reach the provider and the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from tiered_cache.options import DEFAULT, OPTION, CallOptions


def options_of(metadata: Mapping[str, Any] | None) -> CallOptions:
    """The options in a run's metadata (checked: an unknown name raises)."""
    if not metadata:
        return DEFAULT
    return CallOptions.of(metadata.get(OPTION))


def context_options() -> CallOptions:
    """The options of the run LangChain is executing in this context (none outside one)."""
    config = var_child_runnable_config.get()
    return DEFAULT if config is None else options_of(config.get("metadata"))


@contextmanager
def call_options(**options: Any) -> Iterator[CallOptions]:
    """The calls made in the block run with these options, under `set_llm_cache` too:
    `with call_options(refresh=True): model.invoke(...)`. They join the metadata of the
    current run config, as `config={"metadata": {"tiered_cache": {...}}}` would."""
    checked = CallOptions.of(options)
    config: RunnableConfig = dict(var_child_runnable_config.get() or {})  # type: ignore[assignment]
    config["metadata"] = {**(config.get("metadata") or {}), OPTION: options}
    token = var_child_runnable_config.set(config)
    try:
        yield checked
    finally:
        var_child_runnable_config.reset(token)
