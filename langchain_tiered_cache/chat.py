"""`cached(model)`: a chat model that answers from the cache, streams included.

LangChain's `stream`/`astream` never consult a `BaseCache`, so a chat UI that streams pays for
every repeat. `CachedChatModel` is a `BaseChatModel` around another one: `invoke`, `batch`,
`stream`, `astream`, `astream_events`, `bind_tools` and `with_structured_output` work as on the
model itself, and callbacks and tracing see one chat-model run per call (the inner model is
called without them: its tokens are this run's, not a second run's). A hit is replayed as a
stream (a chunk a word; usage and metadata on the last chunk, like a provider's stream); a
streamed miss is stored once the stream has been consumed to its end (a stream abandoned
halfway is never stored). Calls are keyed exactly as the `BaseCache` adapter keys them, so
`cached(model)` and `model` with `cache=TieredLLMCache(...)` share entries.

Per-call options (`tiered_cache.options.CallOptions`) come as a keyword,
`model.invoke(messages, tiered_cache={"bypass": True})`, or in the config,
`config={"metadata": {"tiered_cache": {...}}}` (a chain's, graph's or agent's config too), or
from a `with call_options(...)` block; they never reach the model or a key. The inner model
runs without LangChain's cache and with a config of its own (see `own_config`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import orjson
import tiered_cache
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.load import dumps
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    message_chunk_to_message,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig
from pydantic import ConfigDict, PrivateAttr
from tiered_cache import CacheRequest, Encoded, StreamRecorder
from tiered_cache.options import OPTION, CallOptions
from tiered_cache.streams import areplay, replay_pieces

from .cache import TieredLLMCache
from .options import options_of


class CachedChatModel(BaseChatModel):
    """`model` answered from `cache` first (see the module). Build it with `cached(...)`."""

    model: BaseChatModel
    model_config = ConfigDict(arbitrary_types_allowed=True)
    _tiered: TieredLLMCache = PrivateAttr()
    _uncached: BaseChatModel = PrivateAttr()

    def __init__(self, model: BaseChatModel, cache: TieredLLMCache, **kwargs: Any) -> None:
        # cache=False: this model looks up and stores itself, LangChain's BaseCache path is off
        super().__init__(model=model, cache=False, **kwargs)  # type: ignore[call-arg]
        self._tiered = cache
        # The model is called without LangChain's cache too: under set_llm_cache it would answer
        # a bypass or a refresh from the global cache. Keys are still `model`'s.
        uncached = model if model.cache is False else model.model_copy(update={"cache": False})
        self._uncached = uncached

    @property
    def tiered_cache(self) -> TieredLLMCache:
        """The LangChain cache this model reads and writes."""
        return self._tiered

    @property
    def _llm_type(self) -> str:
        return f"tiered-cache/{self.model._llm_type}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return dict(self.model._identifying_params)

    # -- tools and structured output: the inner model formats, this one binds -------------------
    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        bound = self.model.bind_tools(tools, **kwargs)
        if isinstance(bound, RunnableBinding) and bound.bound is self.model:
            return self.bind(**bound.kwargs)  # the tools reach our calls, so their keys
        raise NotImplementedError(
            f"{type(self.model).__name__}.bind_tools returned {type(bound).__name__}, not a "
            "binding of the model: bind the tools on the model, then call cached(...)"
        )

    # -- one call ---------------------------------------------------------------------------------
    def _call(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: Any,
        kwargs: dict[str, Any],
    ) -> tuple[CacheRequest | None, CallOptions]:
        """The call's request (as the BaseCache adapter keys it) and options; `kwargs` loses
        the options."""
        given = kwargs.pop(OPTION, None)
        if given is not None:
            options = CallOptions.of(given)
        else:  # the run's metadata: the call's config, its chain's or graph's, `call_options`
            options = options_of(None if run_manager is None else run_manager.metadata)
        unkeyed = [m.model_copy(update={"id": None}) if m.id is not None else m for m in messages]
        prompt = dumps(unkeyed)
        llm_string = self.model._get_llm_string(stop=stop, **kwargs)
        return self._tiered.request_of(prompt, llm_string), options

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request, options = self._call(messages, stop, run_manager, kwargs)
        if request is None:
            return self._model_result(messages, stop, kwargs)
        with self._tiered.flight_hit(request, options) as (hit, core_hit):  # one call at a time
            if hit is None:
                result = self._model_result(messages, stop, kwargs)
                self._tiered.store_request(request, result.generations, options)
        # Under max_wrong_rate: a hit asked again, or a miss compared, in the background.
        self._tiered.audit(
            request,
            core_hit,
            None if hit is not None else result.generations,
            lambda: self._model_result(messages, stop, kwargs).generations,
            options,
        )
        return ChatResult(generations=hit) if hit is not None else result  # type: ignore[arg-type]

    def _model_result(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> ChatResult:
        result = self._uncached.generate([messages], stop=stop, callbacks=[], **kwargs)
        return ChatResult(generations=result.generations[0], llm_output=result.llm_output)  # type: ignore[arg-type]

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request, options = self._call(messages, stop, run_manager, kwargs)
        if request is None:
            return await self._amodel_result(messages, stop, kwargs)
        async with self._tiered.aflight_hit(request, options) as (hit, core_hit):
            if hit is None:
                result = await self._amodel_result(messages, stop, kwargs)
                await self._tiered.astore_request(request, result.generations, options)

        async def fresh() -> list[ChatGeneration]:
            return (await self._amodel_result(messages, stop, kwargs)).generations

        await self._tiered.aaudit(
            request, core_hit, None if hit is not None else result.generations, fresh, options
        )
        return ChatResult(generations=hit) if hit is not None else result  # type: ignore[arg-type]

    async def _amodel_result(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> ChatResult:
        result = await self._uncached.agenerate([messages], stop=stop, callbacks=[], **kwargs)
        return ChatResult(generations=result.generations[0], llm_output=result.llm_output)  # type: ignore[arg-type]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request, options = self._call(messages, stop, run_manager, kwargs)
        if request is None:
            for message in self._uncached.stream(messages, own_config(), stop=stop, **kwargs):
                yield ChatGenerationChunk(message=as_chunk(message))
            return
        # The flight lasts until the stream is stored: a stream closed halfway frees the key.
        chunks: list[AIMessageChunk] = []
        with self._tiered.flight_hit(request, options) as (hit, core_hit):
            if hit is not None:
                yield from replay(hit)
            else:
                stream = self._uncached.stream(messages, own_config(), stop=stop, **kwargs)
                for chunk in self._recorder(request, options).record(map(as_chunk, stream)):
                    chunks.append(chunk)
                    yield ChatGenerationChunk(message=chunk)
        # A stream read to its end is audited as `invoke` is (a stream closed halfway is not).
        self._tiered.audit(
            request,
            core_hit,
            (lambda: [streamed(chunks)]) if chunks else None,
            lambda: self._model_result(messages, stop, kwargs).generations,
            options,
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request, options = self._call(messages, stop, run_manager, kwargs)
        if request is None:
            async for message in self._uncached.astream(
                messages, own_config(), stop=stop, **kwargs
            ):
                yield ChatGenerationChunk(message=as_chunk(message))
            return
        chunks: list[AIMessageChunk] = []
        async with self._tiered.aflight_hit(request, options) as (hit, core_hit):
            if hit is not None:
                async for replayed in areplay(replay(hit)):
                    yield replayed
            else:
                stream = self._uncached.astream(messages, own_config(), stop=stop, **kwargs)
                recorder = self._recorder(request, options)
                async for chunk in recorder.arecord(_as_chunks(stream)):
                    chunks.append(chunk)
                    yield ChatGenerationChunk(message=chunk)

        async def fresh() -> list[ChatGeneration]:
            return (await self._amodel_result(messages, stop, kwargs)).generations

        await self._tiered.aaudit(
            request, core_hit, (lambda: [streamed(chunks)]) if chunks else None, fresh, options
        )

    def _recorder(
        self, request: CacheRequest, options: CallOptions
    ) -> StreamRecorder[AIMessageChunk]:
        """Stores a stream's whole answer once it has been consumed to its end (a stream
        abandoned halfway is never stored)."""
        return StreamRecorder(self._tiered.calls, request, self._encode_stream, options)

    def _encode_stream(self, chunks: list[AIMessageChunk]) -> Encoded | None:
        return self._tiered.encode([streamed(chunks)])


async def _as_chunks(stream: AsyncIterator[BaseMessage]) -> AsyncIterator[AIMessageChunk]:
    async for message in stream:
        yield as_chunk(message)


def cached(
    model: BaseChatModel,
    cache: TieredLLMCache | tiered_cache.TieredCache | None = None,
    **settings: Any,
) -> CachedChatModel:
    """`model` answered from a tiered cache first, streams included: `cached(ChatOpenAI())`.

    `cache`: a LangChain `TieredLLMCache`, or a core `tiered_cache.TieredCache`; else one is
    built from `settings` (`tiered_cache.CacheConfig` fields: `cached(model, redis_url=...)`).
    """
    if isinstance(cache, TieredLLMCache):
        if settings:
            raise TypeError("give a cache or settings, not both")
        adapter = cache
    else:
        adapter = TieredLLMCache(cache, **settings)
    return CachedChatModel(model, adapter)


def own_config() -> RunnableConfig:
    """The inner model's config: no callbacks. Without one, `stream` takes the caller's from
    LangChain's context variable (a graph node's, a chain step's), and every handler would see a
    second chat-model run: each token streamed twice, once per run."""
    return RunnableConfig(callbacks=[])


def as_chunk(message: BaseMessage) -> AIMessageChunk:
    """A streamed piece as a chunk (a model without streaming yields one whole message)."""
    if isinstance(message, AIMessageChunk):
        return message
    if isinstance(message, AIMessage):
        return ai_chunk(message, message.content)
    return AIMessageChunk(content=message.content)


def ai_chunk(message: AIMessage, content: Any) -> AIMessageChunk:
    """`message` as one chunk with `content` (its tool calls as tool-call chunks)."""
    return AIMessageChunk(
        content=content,
        additional_kwargs=dict(message.additional_kwargs),
        response_metadata=dict(message.response_metadata),
        usage_metadata=message.usage_metadata,
        name=message.name,
        tool_call_chunks=[
            tool_call_chunk(
                name=call["name"],
                args=orjson.dumps(call["args"]).decode(),
                id=call.get("id"),
                index=i,
            )
            for i, call in enumerate(message.tool_calls)
        ],
        chunk_position="last",
    )


def streamed(chunks: list[AIMessageChunk]) -> ChatGeneration:
    """The whole answer of a stream, as the generation `invoke` would have returned."""
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    message = message_chunk_to_message(total)
    return ChatGeneration(message=message.model_copy(update={"id": None}))


def replay(generations: list[Any]) -> Iterator[ChatGenerationChunk]:
    """A cached answer as a provider streams one: its text a word a chunk, then a last chunk
    with the usage, the metadata (`response_metadata["tiered_cache"]` says it is a hit) and
    the tool calls."""
    generation = generations[0]
    message = getattr(generation, "message", None)
    if not isinstance(message, AIMessage):
        message = AIMessage(content=generation.text)
    content = message.content
    if isinstance(content, str) and content:
        *pieces, last = replay_pieces(content)
        for piece in pieces:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield ChatGenerationChunk(message=ai_chunk(message, last))
    else:  # content blocks (or nothing): one chunk
        yield ChatGenerationChunk(message=ai_chunk(message, content))
