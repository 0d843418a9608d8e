"""Cache middleware for LangChain 1.x agents (`create_agent(..., middleware=[...])`).

- `ModelCallCache`: each model call of the agent goes through `cached(model)` (streams replayed,
  one run per call, new message ids, single flight, per-call options from the run's metadata),
  whatever model the agent or another middleware picked for the call.
- `ToolResultCache`: the results of the tools you name, exact-only, each with its own TTL, keyed
  by the tool's name, its argument schema and its arguments (as canonical JSON). A tool marked
  as having side effects is never cached.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson
import tiered_cache
from langchain.agents.middleware import (
    AgentMiddleware,
    ModelRequest,
    ModelResponse,
    ToolCallRequest,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.types import Command
from tiered_cache import ConfigurationError

from .cache import TieredLLMCache
from .chat import CachedChatModel

logger = logging.getLogger(__name__)

_WRAPPERS = 64
"""Wrappers kept (one per model object the agent calls)."""
ModelResult = ModelResponse[Any] | AIMessage
ToolResult = ToolMessage | Command[Any]


def _adapter(
    cache: TieredLLMCache | tiered_cache.TieredCache | None, settings: Any
) -> TieredLLMCache:
    if isinstance(cache, TieredLLMCache):
        if settings:
            raise ConfigurationError("give a cache or settings, not both")
        return cache
    return TieredLLMCache(cache, **settings)


class ModelCallCache(AgentMiddleware[Any, Any, Any]):
    """Answers the agent's model calls from a tiered cache: `middleware=[ModelCallCache()]`.

    `cache`: a LangChain `TieredLLMCache` or a core cache; else one is built from `settings`.
    """

    def __init__(
        self, cache: TieredLLMCache | tiered_cache.TieredCache | None = None, **settings: Any
    ) -> None:
        super().__init__()
        self.cache = _adapter(cache, settings)
        self._wrapped: dict[int, tuple[BaseChatModel, CachedChatModel]] = {}
        self._lock = threading.Lock()

    def _cached(self, model: BaseChatModel) -> CachedChatModel:
        if isinstance(model, CachedChatModel):
            return model
        with self._lock:  # one wrapper per model object (kept alive with it)
            known = self._wrapped.get(id(model))
            if known is None or known[0] is not model:
                if len(self._wrapped) >= _WRAPPERS:  # models made per call: keep few alive
                    self._wrapped.clear()
                known = (model, CachedChatModel(model, self.cache))
                self._wrapped[id(model)] = known
            return known[1]

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResult]
    ) -> ModelResult:
        return handler(request.override(model=self._cached(request.model)))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResult]],
    ) -> ModelResult:
        return await handler(request.override(model=self._cached(request.model)))


class ToolResultCache(AgentMiddleware[Any, Any, Any]):
    """Caches the results of the tools named in `ttl` (tool name -> seconds, None: the cache's
    TTL; or (tool or name, seconds) pairs): `ToolResultCache(ttl={"get_weather": 600})`. Only
    successful results whose content is JSON are stored; a hit is a new `ToolMessage` for the
    current call. A tool with
    `metadata={"side_effects": True}` (or MCP's `readOnlyHint: False` / `destructiveHint: True`)
    is never cached: naming one raises, meeting one at run time runs it uncached."""

    def __init__(
        self,
        cache: TieredLLMCache | tiered_cache.TieredCache | None = None,
        *,
        ttl: Mapping[str, float | None] | Iterable[tuple[str | BaseTool, float | None]],
        **settings: Any,
    ) -> None:
        super().__init__()
        core = cache.core if isinstance(cache, TieredLLMCache) else cache
        self.core = tiered_cache.TieredCache.ensure(core, settings, semantic=False)
        self.ttl: dict[str, float | None] = {}
        pairs = ttl.items() if isinstance(ttl, Mapping) else ttl
        for tool, seconds in pairs:
            if isinstance(tool, BaseTool) and side_effects(tool):
                raise ConfigurationError(f"tool {tool.name!r} has side effects: never cached")
            if seconds is not None and not seconds > 0:
                raise ConfigurationError(f"ttl of {tool!r}: a positive number of seconds")
            self.ttl[tool.name if isinstance(tool, BaseTool) else tool] = seconds

    def _key(self, request: ToolCallRequest) -> str | None:
        """The call's key, or None when it is not cached."""
        call = request.tool_call
        name = call["name"]
        if name not in self.ttl:
            return None
        tool = request.tool
        if tool is None or tool.name != name:
            return None  # not a registered tool: nothing to key its behaviour on
        if side_effects(tool):
            logger.warning("tiered-cache: tool %r has side effects: not cached", name)
            return None
        try:
            schema = orjson.dumps(tool.args, option=orjson.OPT_SORT_KEYS)
            args = orjson.dumps(call["args"], option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        digest = hashlib.sha256(schema + b"\0" + args).hexdigest()
        return f"tool:{quote(name, safe='')}:{digest}"

    def _hit(self, raw: bytes | None, request: ToolCallRequest) -> ToolMessage | None:
        if raw is None:
            return None
        try:
            stored = orjson.loads(raw)
            return ToolMessage(
                content=stored["content"],
                tool_call_id=request.tool_call["id"],
                name=request.tool_call["name"],
                response_metadata={"tiered_cache": {"hit": True, "tier": "exact"}},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("tiered-cache: dropping a tool result that does not decode")
            return None

    def _ttl(self, name: str) -> float | None:
        seconds = self.ttl[name]
        return self.core.config.ttl if seconds is None else seconds

    @staticmethod
    def _payload(result: ToolResult) -> bytes | None:
        """What to store of a result: a successful ToolMessage with JSON content, no artifact."""
        if not isinstance(result, ToolMessage) or result.status == "error":
            return None
        if result.artifact is not None:
            return None
        try:
            return orjson.dumps({"content": result.content})
        except TypeError:
            return None

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]
    ) -> ToolResult:
        key = self._key(request)
        if key is None:
            return handler(request)
        hit = self._hit(self.core.aux.get(key), request)
        if hit is not None:
            return hit
        result = handler(request)
        payload = self._payload(result)
        if payload is not None:
            self.core.aux.set(key, payload, self._ttl(request.tool_call["name"]))
        return result

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolResult]],
    ) -> ToolResult:
        key = self._key(request)
        if key is None:
            return await handler(request)
        hit = self._hit(await self.core.aux.aget(key), request)
        if hit is not None:
            return hit
        result = await handler(request)
        payload = self._payload(result)
        if payload is not None:
            await self.core.aux.aset(key, payload, self._ttl(request.tool_call["name"]))
        return result

    def clear(self) -> None:
        """Delete every stored tool result of this cache."""
        for name, _ in self.core.aux.scan("tool:"):
            self.core.aux.delete(name)


def side_effects(tool: BaseTool) -> bool:
    """Whether a tool says it changes something (then its results are never cached)."""
    metadata = tool.metadata or {}
    return bool(
        metadata.get("side_effects") is True
        or metadata.get("destructiveHint") is True
        or metadata.get("readOnlyHint") is False
    )
