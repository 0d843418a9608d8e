"""CachedLLM: a LlamaIndex LLM that answers from a TieredCache before calling the LLM it wraps."""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

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
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from tiered_cache import CacheHit, CacheRequest, TieredCache
from tiered_cache.observability.incidents import Incidents
from tiered_cache.options import DEFAULT, OPTION, CallOptions

from .events import report_lookup
from .guard import failure_log
from .identity import (
    SETTING_FIELDS,
    call_params,
    describe_tools,
    live_settings,
    model_fields_params,
    model_identity,
)
from .messages import messages_to_dicts, prompt_to_dicts
from .responses import (
    Response,
    decode,
    encode,
    final_from_stream,
    mark_hit,
    stream_chunks,
    strip_marks,
    usage_of,
)

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

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
# Partition entries of our own; the dot keeps them from ever clashing with a call keyword.
_ENDPOINT = "llamaindex.endpoint"
_FORMATTED = "llamaindex.formatted"
R = TypeVar("R", ChatResponse, CompletionResponse)
T = TypeVar("T")
# What a hit reporter hands back (see CachedLLM._hit_chat).
_SERVED: ContextVar[Any] = ContextVar("tiered_cache_served")


class CachedLLM(LLM):
    """Wraps any LlamaIndex LLM: exact repeats and paraphrases are served from a TieredCache.

    `CachedLLM(llm=inner)` uses an embedded cache; pass `cache=` (a core `TieredCache`) or cache
    settings (`redis_url=`, `namespace=`, `threshold=`, ...). A failing cache is skipped.
    """

    llm: SerializeAsAny[LLM] = Field(description="The wrapped LLM, called on cache misses.")
    _cache: TieredCache = PrivateAttr()
    _failures: Incidents = PrivateAttr()
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
        self._failures = failure_log(type(self).__name__)
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
    def _request(
        self, messages: list[dict[str, Any]], kwargs: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> CacheRequest | None:
        try:
            params = {
                **self._settings,
                **live_settings(self.llm),
                **call_params(kwargs, exclude=("tools",)),
                **extra,
            }
            request = self._cache.request(
                messages,
                model=model_identity(self.llm),
                params=params,
                tools=describe_tools(kwargs.get("tools")),
            )
        except Exception as exc:
            self._failures.failed(exc, "building the cache request")
            return None
        return request

    def _chat_request(
        self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]
    ) -> CacheRequest | None:
        try:
            dicts = messages_to_dicts(messages)
        except Exception as exc:
            self._failures.failed(exc, "reading the messages")
            return None
        return self._request(dicts, kwargs, {_ENDPOINT: "chat"})

    def _complete_request(
        self, prompt: str, formatted: bool, kwargs: Mapping[str, Any]
    ) -> CacheRequest | None:
        extra = {_ENDPOINT: "complete", _FORMATTED: formatted}
        return self._request(prompt_to_dicts(prompt), kwargs, extra)

    def _served(self, hit: CacheHit | None, kind: type[Response]) -> Response | None:
        """The response of a hit (marked), or None; reports the call's lookup either way."""
        self._report_lookup(hit)
        if hit is None:
            return None
        try:
            return mark_hit(decode(hit.payload, kind), hit)
        except Exception as exc:  # a foreign or corrupt payload is a miss
            self._failures.failed(exc, "reading a cached response")
            return None

    def _report_lookup(self, hit: CacheHit | None) -> None:
        try:
            report_lookup(hit, self.llm.metadata.model_name)
        except Exception as exc:  # instrumentation must never break the call
            self._failures.failed(exc, "reporting the lookup")

    def _hit(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions = DEFAULT
    ) -> Response | None:
        if request is None:
            return None
        try:
            if options.refresh:
                self._cache.forget(request)
            if not options.looks_up:
                return None
            hit = self._cache.lookup(options.applied(request))
        except Exception as exc:
            self._failures.failed(exc, "lookup")
            return None
        self._failures.ok()
        return self._served(hit, kind)

    async def _ahit(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions = DEFAULT
    ) -> Response | None:
        if request is None:
            return None
        try:
            if options.refresh:
                await self._cache.aforget(request)
            if not options.looks_up:
                return None
            hit = await self._cache.alookup(options.applied(request))
        except Exception as exc:
            self._failures.failed(exc, "lookup")
            return None
        self._failures.ok()
        return self._served(hit, kind)

    def _payload(
        self, response: ChatResponse | CompletionResponse
    ) -> tuple[str, dict[str, int] | None] | None:
        try:
            return encode(response), usage_of(response)
        except Exception as exc:  # e.g. provider objects in additional_kwargs
            self._failures.failed(exc, "serializing the response")
            return None

    def _store(
        self,
        request: CacheRequest | None,
        response: ChatResponse | CompletionResponse,
        options: CallOptions = DEFAULT,
    ) -> None:
        if request is None or not options.stores:
            return
        payload = self._payload(response)
        if payload is None:
            return
        try:
            self._cache.store(request, payload[0], usage=payload[1], **options.store_kwargs())
        except Exception as exc:
            self._failures.failed(exc, "store")

    async def _astore(
        self,
        request: CacheRequest | None,
        response: ChatResponse | CompletionResponse,
        options: CallOptions = DEFAULT,
    ) -> None:
        if request is None or not options.stores:
            return
        payload = self._payload(response)
        if payload is None:
            return
        try:
            kwargs = options.store_kwargs()
            await self._cache.astore(request, payload[0], usage=payload[1], **kwargs)
        except Exception as exc:
            self._failures.failed(exc, "store")

    def _recorded(
        self,
        request: CacheRequest | None,
        stream: Iterator[Response],
        options: CallOptions = DEFAULT,
        flight: contextlib.ExitStack | None = None,
    ) -> Generator[Response, None, None]:
        """Pass the stream through; store the whole response once it has been fully consumed,
        then land the flight this call leads (also when the stream fails or is abandoned)."""
        with flight or contextlib.ExitStack():
            last: Response | None = None
            deltas: list[str] = []
            for chunk in stream:
                last = chunk
                deltas.append(chunk.delta or "")
                yield chunk
            if last is not None:
                self._store(request, final_from_stream(last, deltas), options)

    async def _arecorded(
        self,
        request: CacheRequest | None,
        stream: AsyncIterator[Response],
        options: CallOptions = DEFAULT,
        flight: contextlib.AsyncExitStack | None = None,
    ) -> AsyncGenerator[Response, None]:
        async with flight or contextlib.AsyncExitStack():
            last: Response | None = None
            deltas: list[str] = []
            async for chunk in stream:
                last = chunk
                deltas.append(chunk.delta or "")
                yield chunk
            if last is not None:
                await self._astore(request, final_from_stream(last, deltas), options)

    # -- single-flight for streams --------------------------------------------------------------
    def _stream_hit(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions
    ) -> tuple[Response | None, contextlib.ExitStack | None]:
        """(the hit, None), or (None, the flight to land once the stream is stored): concurrent
        identical streams share one model call, the others replay its stored answer. A call
        with options of its own is not coalesced."""
        if request is None or options != DEFAULT:
            return self._hit(request, kind, options), None
        flight = contextlib.ExitStack()
        try:
            hit = flight.enter_context(self._cache.flight(request))
        except Exception as exc:
            self._failures.failed(exc, "lookup")
            return None, None
        self._failures.ok()
        if hit is not None:
            flight.close()  # a hit leads nothing
        return self._served(hit, kind), flight

    async def _astream_hit(
        self, request: CacheRequest | None, kind: type[Response], options: CallOptions
    ) -> tuple[Response | None, contextlib.AsyncExitStack | None]:
        if request is None or options != DEFAULT:
            return await self._ahit(request, kind, options), None
        flight = contextlib.AsyncExitStack()
        try:
            hit = await flight.enter_async_context(self._cache.aflight(request))
        except Exception as exc:
            self._failures.failed(exc, "lookup")
            return None, None
        self._failures.ok()
        if hit is not None:
            await flight.aclose()
        return self._served(hit, kind), flight

    def _stream(
        self,
        request: CacheRequest | None,
        kind: type[Response],
        options: CallOptions,
        call: Callable[[], Iterator[Response]],
        report: Callable[[Generator[Response, None, None]], Any],
    ) -> Generator[Response, None, None]:
        """A stream of the cached answer (a chunk a word), or of the wrapped LLM's call."""
        cached, flight = self._stream_hit(request, kind, options)
        if cached is not None:
            replay: Generator[Response, None, None] = report(_replay(cached))
            return replay
        try:
            stream = call()
        except BaseException:
            if flight is not None:
                flight.close()
            raise
        return self._recorded(request, stream, options, flight)

    async def _astream(
        self,
        request: CacheRequest | None,
        kind: type[Response],
        options: CallOptions,
        call: Callable[[], Awaitable[AsyncIterator[Response]]],
        report: Callable[[AsyncGenerator[Response, None]], Awaitable[Any]],
    ) -> AsyncGenerator[Response, None]:
        cached, flight = await self._astream_hit(request, kind, options)
        if cached is not None:
            replay: AsyncGenerator[Response, None] = await report(_areplay(cached))
            return replay
        try:
            stream = await call()
        except BaseException:
            if flight is not None:
                await flight.aclose()
            raise
        return self._arecorded(request, stream, options, flight)

    # -- the LLM interface --------------------------------------------------------------------
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
        if options != DEFAULT:
            cached = self._hit(request, kind, options)
            if cached is not None:
                return report(cached)
            response = call()
            self._store(request, response, options)
            return response
        fresh: list[R] = []

        def compute() -> tuple[str, dict[str, int] | None]:
            fresh.append(call())
            return self._payload(fresh[-1]) or _unstorable()

        try:
            served = self._cache.get_or_compute(request, compute)
        except _Unstorable:
            self._report_lookup(None)
            return fresh[-1]
        if fresh:
            self._report_lookup(None)
            return fresh[-1]
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
        if options != DEFAULT:
            cached = await self._ahit(request, kind, options)
            if cached is not None:
                return await report(cached)
            response = await call()
            await self._astore(request, response, options)
            return response
        fresh: list[R] = []

        async def compute() -> tuple[str, dict[str, int] | None]:
            fresh.append(await call())
            return self._payload(fresh[-1]) or _unstorable()

        try:
            served = await self._cache.aget_or_compute(request, compute)
        except _Unstorable:
            self._report_lookup(None)
            return fresh[-1]
        if fresh:
            self._report_lookup(None)
            return fresh[-1]
        hit = self._served(served.hit, kind)
        return await call() if hit is None else await report(hit)

    # -- reporting hits -----------------------------------------------------------------------
    # A real call is reported to LlamaIndex callbacks and instrumentation by the wrapped LLM; a
    # hit by one of these (decorated like any LLM endpoint), so that each is reported once.
    @llm_chat_callback()
    def _hit_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        return _SERVED.get()

    @llm_chat_callback()
    async def _ahit_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        return _SERVED.get()

    @llm_completion_callback()
    def _hit_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        return _SERVED.get()

    @llm_completion_callback()
    async def _ahit_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        return _SERVED.get()

    @staticmethod
    def _report(reporter: Callable[..., T], served: Any, *args: Any, **kwargs: Any) -> T:
        token = _SERVED.set(served)
        try:
            return reporter(*args, **kwargs)
        finally:
            _SERVED.reset(token)

    @staticmethod
    async def _areport(
        reporter: Callable[..., Awaitable[T]], served: Any, *args: Any, **kwargs: Any
    ) -> T:
        token = _SERVED.set(served)
        try:
            return await reporter(*args, **kwargs)
        finally:
            _SERVED.reset(token)

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
        return self._stream(
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
        return self._stream(
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
        return await self._astream(
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
        return await self._astream(
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


def _replay(response: Response) -> Generator[Response, None, None]:
    yield from stream_chunks(response)


async def _areplay(response: Response) -> AsyncGenerator[Response, None]:
    for chunk in stream_chunks(response):
        yield chunk


class CachedFunctionCallingLLM(CachedLLM, FunctionCallingLLM):
    """CachedLLM for function-calling LLMs (agents, structured output): tools join the partition,
    and tool preparation and parsing are the wrapped LLM's."""

    llm: SerializeAsAny[FunctionCallingLLM] = Field(
        description="The wrapped function-calling LLM, called on cache misses."
    )

    def __init__(
        self, llm: FunctionCallingLLM, cache: TieredCache | None = None, **settings: Any
    ) -> None:
        super().__init__(llm, cache, **settings)

    @classmethod
    def class_name(cls) -> str:
        return "CachedFunctionCallingLLM"

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return self.llm._prepare_chat_with_tools_compat(
            tools,
            user_msg=user_msg,
            chat_history=chat_history,
            verbose=verbose,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            tool_required=tool_required,
            **kwargs,
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return self.llm._validate_chat_with_tools_response(
            response, tools, allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs
        )

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return self.llm.get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )


def cached_llm(llm: LLM, cache: TieredCache | None = None, **settings: Any) -> CachedLLM:
    """`CachedFunctionCallingLLM` for a function-calling LLM, else `CachedLLM`."""
    if isinstance(llm, FunctionCallingLLM):
        return CachedFunctionCallingLLM(llm, cache, **settings)
    return CachedLLM(llm, cache, **settings)
