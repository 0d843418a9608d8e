"""CachedLLM: a LlamaIndex LLM that answers from a TieredCache before calling the LLM it wraps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM
from tiered_cache import CacheHit, CacheRequest, CallCache, Encoded, Guard, TieredCache
from tiered_cache.options import DEFAULT, OPTION, CallOptions

from .events import report_lookup
from .guard import failure_log
from .identity import SETTING_FIELDS, model_fields_params
from .reporting import HitReports
from .requests import chat_request, complete_request
from .responses import Response, answer_of, decode, encode, mark_hit, strip_marks, usage_of
from .streaming import Streams, coalesces

# Applied by `LLM.predict`/`stream`/`structured_predict`, not by chat/complete: carried over from
# the wrapped LLM, or its system prompt and prompt formatting would be silently lost.
CARRIED_FIELDS = (
    "system_prompt",
    "messages_to_prompt",
    "completion_to_prompt",
    "query_wrapper_prompt",
    "output_parser",
    "pydantic_program_mode",
)
R = TypeVar("R", ChatResponse, CompletionResponse)


class CachedLLM(HitReports, LLM):
    """Wraps any LlamaIndex LLM: exact repeats and paraphrases are served from a TieredCache.

    `CachedLLM(llm=inner)` uses an embedded cache; pass `cache=` (a core `TieredCache`) or cache
    settings (`redis_url=`, `namespace=`, `threshold=`, ...). A failing cache is skipped.
    """

    llm: SerializeAsAny[LLM] = Field(description="The wrapped LLM, called on cache misses.")
    _cache: TieredCache = PrivateAttr()
    _guard: Guard = PrivateAttr()
    _calls: CallCache = PrivateAttr()
    _settings: dict[str, Any] = PrivateAttr()

    def __init__(self, llm: LLM, cache: TieredCache | None = None, **settings: Any) -> None:
        own = type(self).model_fields
        fields = {k: settings.pop(k) for k in list(settings) if k in own and k != "llm"}
        for name in CARRIED_FIELDS:
            fields.setdefault(name, getattr(llm, name, None))
        if fields.get("pydantic_program_mode") is None:
            fields.pop("pydantic_program_mode", None)
        core = TieredCache.ensure(cache, settings)
        fields["llm"] = llm
        super().__init__(**fields)
        self._cache = core
        self._guard = Guard(failure_log(type(self).__name__))
        self._calls = CallCache(core, self._guard)
        # The inner LLM's configuration, read once (see identity.SETTING_FIELDS).
        self._settings = model_fields_params(llm, skip=SETTING_FIELDS)

    @classmethod
    def class_name(cls) -> str:
        return "CachedLLM"

    @property
    def cache(self) -> TieredCache:
        """The core cache (for `stats()`, `clear()`, ...)."""
        return self._cache

    def invalidate(self, **selection: Any) -> int:
        """Delete the entries selected by `tags=`, `model=`, `partition=`, `older_than=`
        (`dry_run=True`: count them); see `tiered_cache.TieredCache.invalidate`."""
        return self._cache.invalidate(**selection)

    async def ainvalidate(self, **selection: Any) -> int:
        return await self._cache.ainvalidate(**selection)

    @property
    def metadata(self) -> LLMMetadata:
        """The wrapped LLM's metadata. Function calling is reported only by
        `CachedFunctionCallingLLM`, since callers then use `chat_with_tools`."""
        meta = self.llm.metadata
        if meta.is_function_calling_model and not isinstance(self, FunctionCallingLLM):
            meta = meta.model_copy(update={"is_function_calling_model": False})
        return meta

    # -- translation to the core --------------------------------------------------------------
    def _chat_request(
        self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]
    ) -> CacheRequest | None:
        with self._guard("building the cache request"):
            return chat_request(self._cache, self.llm, self._settings, messages, kwargs)
        return None

    def _complete_request(
        self, prompt: str, formatted: bool, kwargs: Mapping[str, Any]
    ) -> CacheRequest | None:
        with self._guard("building the cache request"):
            args = (self._cache, self.llm, self._settings, prompt, formatted, kwargs)
            return complete_request(*args)
        return None

    def _served(self, hit: CacheHit | None, kind: type[Response]) -> Response | None:
        """The response of a hit (marked), or None; reports the call's lookup either way."""
        self._report_lookup(hit)
        if hit is None:
            return None
        with self._guard("reading a cached response"):  # a foreign or corrupt payload: a miss
            return mark_hit(decode(hit.payload, kind), hit)
        return None

    def _report_lookup(self, hit: CacheHit | None) -> None:
        with self._guard("reporting the lookup"):  # instrumentation never breaks the call
            report_lookup(hit, self.llm.metadata.model_name)

    # -- lookups and stores: the call's options applied by the core ----------------------------
    def _hit(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions = DEFAULT
    ) -> Response | None:
        if request is None:
            return None
        hit = self._calls.lookup(request, options)
        return self._served(hit, kind) if options.looks_up else None

    async def _ahit(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions = DEFAULT
    ) -> Response | None:
        if request is None:
            return None
        hit = await self._calls.alookup(request, options)
        return self._served(hit, kind) if options.looks_up else None

    def _encoded(self, response: ChatResponse | CompletionResponse) -> Encoded | None:
        try:
            return encode(response), usage_of(response)
        except Exception as exc:  # e.g. provider objects in additional_kwargs
            self._guard.failed(exc, "serializing the response")
            return None

    def _store(
        self,
        request: CacheRequest | None,
        response: ChatResponse | CompletionResponse,
        options: CallOptions = DEFAULT,
    ) -> None:
        if request is not None:
            self._calls.store(request, lambda: self._encoded(response), options)

    async def _astore(
        self,
        request: CacheRequest | None,
        response: ChatResponse | CompletionResponse,
        options: CallOptions = DEFAULT,
    ) -> None:
        if request is not None:
            await self._calls.astore(request, lambda: self._encoded(response), options)

    @property
    def _streams(self) -> Streams:
        """The streamed endpoints' mechanics (built per call: a copy of this LLM has its own)."""
        return Streams(self._calls, self._served, self._encoded)

    # -- calls: served from the cache, or the wrapped LLM's answer stored ------------------------
    def _coalesced(
        self,
        request: CacheRequest | None,
        kind: type[R],
        call: Callable[[], R],
        report: Callable[[R], R],
        options: CallOptions = DEFAULT,
    ) -> R:
        """Served from the cache (and reported), or `call()` once for all concurrent identical
        misses (a call with options of its own is not coalesced)."""
        if request is None:
            return call()
        if not coalesces(options):
            cached = self._hit(request, kind, options)
            if cached is not None:
                return report(cached)
            response = call()
            self._store(request, response, options)
            return response
        fresh: list[R] = []

        def compute() -> Encoded:
            fresh.append(call())
            return self._encoded(fresh[-1]) or _unstorable()

        try:
            served = self._cache.get_or_compute(
                request, compute, answer_text=lambda payload: answer_of(payload, kind)
            )
        except _Unstorable:
            self._report_lookup(None)
            return fresh[0]
        if served.hit is None:  # this call computed it (an audit may call `compute` again later)
            self._report_lookup(None)
            return fresh[0] if fresh else call()
        hit = self._served(served.hit, kind)
        return call() if hit is None else report(hit)

    async def _acoalesced(
        self,
        request: CacheRequest | None,
        kind: type[R],
        call: Callable[[], Awaitable[R]],
        report: Callable[[R], Awaitable[R]],
        options: CallOptions = DEFAULT,
    ) -> R:
        if request is None:
            return await call()
        if not coalesces(options):
            cached = await self._ahit(request, kind, options)
            if cached is not None:
                return await report(cached)
            response = await call()
            await self._astore(request, response, options)
            return response
        fresh: list[R] = []

        async def compute() -> Encoded:
            fresh.append(await call())
            return self._encoded(fresh[-1]) or _unstorable()

        try:
            served = await self._cache.aget_or_compute(
                request, compute, answer_text=lambda payload: answer_of(payload, kind)
            )
        except _Unstorable:
            self._report_lookup(None)
            return fresh[0]
        if served.hit is None:  # this call computed it (an audit may call `compute` again later)
            self._report_lookup(None)
            return fresh[0] if fresh else await call()
        hit = self._served(served.hit, kind)
        return await call() if hit is None else await report(hit)

    # -- the LLM interface --------------------------------------------------------------------
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        options = _options(kwargs)
        request = self._chat_request(messages, kwargs)
        return self._coalesced(
            request,
            ChatResponse,
            lambda: self.llm.chat(strip_marks(messages), **kwargs),
            lambda hit: self._report(self._hit_chat, hit, messages, **kwargs),
            options,
        )

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        options = _options(kwargs)
        request = self._complete_request(prompt, formatted, kwargs)
        return self._coalesced(
            request,
            CompletionResponse,
            lambda: self.llm.complete(prompt, formatted=formatted, **kwargs),
            lambda hit: self._report(self._hit_complete, hit, prompt, formatted, **kwargs),
            options,
        )

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        options = _options(kwargs)
        return self._streams.open(
            self._chat_request(messages, kwargs),
            ChatResponse,
            options,
            lambda: self.llm.stream_chat(strip_marks(messages), **kwargs),
            lambda replay: self._report(self._hit_chat, replay, messages, **kwargs),
        )

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        options = _options(kwargs)
        return self._streams.open(
            self._complete_request(prompt, formatted, kwargs),
            CompletionResponse,
            options,
            lambda: self.llm.stream_complete(prompt, formatted=formatted, **kwargs),
            lambda replay: self._report(self._hit_complete, replay, prompt, formatted, **kwargs),
        )

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        options = _options(kwargs)
        request = self._chat_request(messages, kwargs)
        return await self._acoalesced(
            request,
            ChatResponse,
            lambda: self.llm.achat(strip_marks(messages), **kwargs),
            lambda hit: self._areport(self._ahit_chat, hit, messages, **kwargs),
            options,
        )

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        options = _options(kwargs)
        request = self._complete_request(prompt, formatted, kwargs)
        return await self._acoalesced(
            request,
            CompletionResponse,
            lambda: self.llm.acomplete(prompt, formatted=formatted, **kwargs),
            lambda hit: self._areport(self._ahit_complete, hit, prompt, formatted, **kwargs),
            options,
        )

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        options = _options(kwargs)
        return await self._streams.aopen(
            self._chat_request(messages, kwargs),
            ChatResponse,
            options,
            lambda: self.llm.astream_chat(strip_marks(messages), **kwargs),
            lambda replay: self._areport(self._ahit_chat, replay, messages, **kwargs),
        )

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        options = _options(kwargs)
        return await self._streams.aopen(
            self._complete_request(prompt, formatted, kwargs),
            CompletionResponse,
            options,
            lambda: self.llm.astream_complete(prompt, formatted=formatted, **kwargs),
            lambda replay: self._areport(self._ahit_complete, replay, prompt, formatted, **kwargs),
        )


class _Unstorable(Exception):
    """The fresh response cannot be serialized: return it uncached."""


def _unstorable() -> NoReturn:
    raise _Unstorable


def _options(kwargs: dict[str, Any]) -> CallOptions:
    """This call's cache options, taken out of its keywords (they never reach the LLM)."""
    return CallOptions.of(kwargs.pop(OPTION, None))
