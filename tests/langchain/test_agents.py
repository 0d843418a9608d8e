"""`cached(model)` and `set_llm_cache` inside LangGraph graphs, chains and `create_agent`: one
chat-model run per call and each token once, fresh message ids on hits, per-call options from
the run's config, sync and async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypedDict
from uuid import UUID

import pytest
from langchain.agents import create_agent
from langchain_core.caches import BaseCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph, add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send
from pydantic import PrivateAttr
from tiered_cache import InvalidRequestError
from tiered_cache.options import OPTION

from langchain_tiered_cache import TieredLLMCache, cached, call_options

from .conftest import LCCacheFactory
from .fakes import StreamingEcho, WeatherAgentModel

QUESTION = "What is the weather like in Paris?"
Mode = str


class Runs(BaseCallbackHandler):
    """The chat-model runs a handler sees, and the tokens streamed to it."""

    def __init__(self) -> None:
        self.starts: list[UUID] = []
        self.tokens: list[str] = []
        self.started = threading.Condition()

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        with self.started:
            self.starts.append(run_id)
            self.started.notify_all()

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return str(request.param)


def chat_graph(model: Runnable[Any, Any], mode: Mode) -> CompiledStateGraph[Any, Any, Any, Any]:
    """START -> chat -> END, the node calling `model` with invoke or ainvoke."""

    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def achat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("chat", achat if mode == "async" else chat)
    graph.add_edge(START, "chat")
    graph.add_edge("chat", END)
    return graph.compile()


async def streamed_messages(
    app: Runnable[Any, Any], value: Any, mode: Mode, config: Any = None
) -> list[tuple[BaseMessage, dict[str, Any]]]:
    """What `stream_mode="messages"` yields: (message chunk, metadata) pairs."""
    if mode == "sync":
        return list(app.stream(value, config, stream_mode="messages"))
    return [item async for item in app.astream(value, config, stream_mode="messages")]


def text_of(items: list[tuple[BaseMessage, dict[str, Any]]]) -> str:
    return "".join(str(message.content) for message, _ in items)


# -- one run per call, each token once -------------------------------------------------------------
async def test_a_graph_streams_each_token_once(mode: Mode) -> None:
    inner = StreamingEcho()
    app = chat_graph(cached(inner, TieredLLMCache(semantic=False)), mode)
    for _ in ("a miss", "a hit"):
        runs = Runs()
        items = await streamed_messages(
            app, {"messages": [HumanMessage(QUESTION)]}, mode, {"callbacks": [runs]}
        )
        assert text_of(items) == f"answer #1 to: {QUESTION}"
        assert len({message.id for message, _ in items}) == 1  # one run's chunks
        assert all(meta["langgraph_node"] == "chat" for _, meta in items)
        assert len(runs.starts) == 1 and "".join(runs.tokens) == f"answer #1 to: {QUESTION}"
    assert inner.calls == 1


async def test_under_set_llm_cache_a_hit_streams_as_one_whole_message(
    mode: Mode, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = StreamingEcho()
    global_cache(TieredLLMCache(semantic=False))
    app = chat_graph(inner, mode)
    value = {"messages": [HumanMessage(QUESTION)]}
    miss = await streamed_messages(app, value, mode)
    hit = await streamed_messages(app, value, mode)
    assert len(miss) > 3 and text_of(miss) == f"answer #1 to: {QUESTION}"
    assert [str(m.content) for m, _ in hit] == [f"answer #1 to: {QUESTION}"]  # what docs say
    assert inner.calls == 1


async def test_graph_events_show_one_run_per_call() -> None:
    inner = StreamingEcho()
    app = chat_graph(cached(inner, TieredLLMCache(semantic=False)), "async")
    for _ in ("a miss", "a hit"):
        events = [
            e
            async for e in app.astream_events({"messages": [HumanMessage(QUESTION)]}, version="v2")
        ]
        starts = [e for e in events if e["event"] == "on_chat_model_start"]
        tokens = [
            e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"
        ]
        assert len(starts) == 1
        assert "".join(tokens) == f"answer #1 to: {QUESTION}"
    assert inner.calls == 1


async def test_a_chain_streams_each_token_once(mode: Mode) -> None:
    inner = StreamingEcho()
    prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
    chain = prompt | cached(inner, TieredLLMCache(semantic=False))
    for _ in ("a miss", "a hit"):
        runs = Runs()
        config: Any = {"callbacks": [runs]}
        if mode == "sync":
            chunks = list(chain.stream({"question": QUESTION}, config))
        else:
            chunks = [c async for c in chain.astream({"question": QUESTION}, config)]
        assert "".join(str(c.content) for c in chunks) == f"answer #1 to: {QUESTION}"
        assert len(runs.starts) == 1 and "".join(runs.tokens) == f"answer #1 to: {QUESTION}"
    assert inner.calls == 1


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny" if "Paris" in city else "rainy"


def weather_agent(model: Runnable[Any, Any] | Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    return create_agent(model, tools=[get_weather])


async def test_an_agent_streams_each_token_once(mode: Mode) -> None:
    inner = WeatherAgentModel()
    agent = weather_agent(cached(inner, TieredLLMCache(semantic=False)))
    for _ in ("misses", "hits"):
        runs = Runs()
        items = await streamed_messages(
            agent, {"messages": [HumanMessage("Paris")]}, mode, {"callbacks": [runs]}
        )
        from_model = [(m, meta) for m, meta in items if meta["langgraph_node"] == "model"]
        assert text_of(from_model) == "The weather in Paris is sunny."
        assert len(runs.starts) == 2  # two steps: the tool call, the answer
        assert "".join(runs.tokens) == "The weather in Paris is sunny."
    assert inner.calls == 2


@pytest.mark.parametrize("path", ["cached", "set_llm_cache"])
async def test_a_reworded_question_is_served_at_every_step_of_an_agent(
    path: str, mode: Mode, make_lc_cache: LCCacheFactory, global_cache: Callable[[BaseCache], None]
) -> None:
    """The first step of a reworded question is a semantic hit (the model's tool call); the
    second step holds the rewording, the same tool call and the same result: a hit too
    (history="relevant": the question by meaning, the agent's steps exact)."""
    inner = WeatherAgentModel()
    lc_cache = make_lc_cache()
    model: Runnable[Any, Any] | Any = cached(inner, lc_cache) if path == "cached" else inner
    if path == "set_llm_cache":
        global_cache(lc_cache)
    agent = weather_agent(model)
    answers = []
    for question in (QUESTION, "How is the weather in Paris?"):
        value = {"messages": [HumanMessage(question)]}
        out = agent.invoke(value) if mode == "sync" else await agent.ainvoke(value)
        answers.append(out["messages"][-1].text)
    assert answers == [f"The weather in {QUESTION} is sunny."] * 2
    assert inner.calls == 2  # both steps of the first run; none for the reworded one
    # Another tool result is another partition: the second step reaches the model.
    rainy = [
        HumanMessage("How is the weather in Paris?"),
        *[m for m in out["messages"][1:3]],
    ]
    rainy[-1] = ToolMessage("rainy", tool_call_id=rainy[-1].tool_call_id)
    answer = model.invoke(rainy) if mode == "sync" else await model.ainvoke(rainy)
    assert answer.text == f"The weather in {QUESTION} is rainy."
    assert inner.calls == 3


# -- fresh message ids on hits ---------------------------------------------------------------------
Path = str
PATHS = ["cached", "set_llm_cache"]


def model_on_path(
    path: Path, inner: BaseChatModel, global_cache: Callable[[BaseCache], None]
) -> Runnable[Any, Any]:
    """The model as a graph calls it: `cached(inner)`, or `inner` under `set_llm_cache`."""
    return model_and_cache(path, inner, global_cache)[0]


def model_and_cache(
    path: Path,
    inner: BaseChatModel,
    global_cache: Callable[[BaseCache], None],
    lc_cache: TieredLLMCache | None = None,
) -> tuple[Runnable[Any, Any], TieredLLMCache]:
    lc_cache = lc_cache or TieredLLMCache(semantic=False)
    if path == "cached":
        return cached(inner, lc_cache), lc_cache
    global_cache(lc_cache)
    return inner, lc_cache


class Cities(TypedDict):
    cities: list[str]
    messages: Annotated[list[BaseMessage], add_messages]


def fan_out(model: Runnable[Any, Any], mode: Mode) -> CompiledStateGraph[Any, Any, Any, Any]:
    """One `ask` node per city (`Send`), each answer added to the state's messages."""

    def ask(city: dict[str, str]) -> dict[str, Any]:
        return {"messages": [model.invoke([HumanMessage(city["city"])])]}

    async def aask(city: dict[str, str]) -> dict[str, Any]:
        return {"messages": [await model.ainvoke([HumanMessage(city["city"])])]}

    def route(state: Cities) -> list[Send]:
        return [Send("ask", {"city": city}) for city in state["cities"]]

    graph = StateGraph(Cities)
    graph.add_node("ask", aask if mode == "async" else ask)
    graph.add_conditional_edges(START, route, ["ask"])
    graph.add_edge("ask", END)
    return graph.compile()


@pytest.mark.parametrize("path", PATHS)
async def test_a_fan_out_keeps_every_answer_served_from_the_cache(
    path: Path, mode: Mode, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = StreamingEcho()
    model = model_on_path(path, inner, global_cache)
    first = model.invoke([HumanMessage("Paris")])  # stored: the two Paris asks below are hits
    app = fan_out(model, mode)
    value = {"cities": ["Paris", "Paris", "London"], "messages": []}
    state = app.invoke(value) if mode == "sync" else await app.ainvoke(value)
    answers = state["messages"]
    assert sorted(str(m.content) for m in answers) == [
        "answer #1 to: Paris",
        "answer #1 to: Paris",
        "answer #2 to: London",
    ]
    assert inner.calls == 2
    ids = [m.id for m in answers]
    assert len(set(ids)) == 3 and first.id not in ids and None not in ids
    hits = [m for m in answers if "tiered_cache" in m.response_metadata]
    assert len(hits) == 2 and {m.response_metadata["tiered_cache"]["tier"] for m in hits} == {
        "exact"
    }


@pytest.mark.parametrize("path", PATHS)
async def test_each_hit_gets_a_new_id(
    path: Path, invoke: Any, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = StreamingEcho()
    model = model_on_path(path, inner, global_cache)
    answers = [await invoke(model, "Paris") for _ in range(3)]
    assert [a.content for a in answers] == ["answer #1 to: Paris"] * 3 and inner.calls == 1
    assert len({a.id for a in answers}) == 3
    prefix = "lc_run-" if path == "cached" else "lc_"  # the wrapper's run names its message
    assert all(a.id.startswith(prefix) for a in answers[1:])


# -- per-call options from the run's config --------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
async def test_options_in_a_graph_config_reach_the_cache_never_the_model(
    path: Path, mode: Mode, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = WeatherAgentModel()  # its tool-call ids count its calls: call_<n>
    model, lc_cache = model_and_cache(path, inner, global_cache)
    app = chat_graph(model, mode)

    async def ask(**options: Any) -> str:
        config: Any = {"metadata": {OPTION: options}} if options else None
        value = {"messages": [HumanMessage("Paris")]}
        state = app.invoke(value, config) if mode == "sync" else await app.ainvoke(value, config)
        return str(state["messages"][-1].tool_calls[0]["id"])

    assert [await ask(), await ask()] == ["call_1", "call_1"]
    assert await ask(bypass=True) == "call_2"  # the model answered...
    assert await ask() == "call_2"  # ...and its answer replaced the stored one, same key
    assert await ask(bypass=True, no_store=True) == "call_3"
    assert await ask() == "call_2"
    assert await ask(refresh=True, tags=["weather"]) == "call_4"
    assert await ask() == "call_4"
    lc_cache.clear(tags=["weather"])
    assert [await ask(), await ask()] == ["call_5", "call_5"]
    assert inner.kwargs_seen == [{}] * 5  # never passed to the model


async def test_options_in_a_chain_config(
    mode: Mode, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = WeatherAgentModel()
    global_cache(TieredLLMCache(semantic=False))
    chain = ChatPromptTemplate.from_messages([("user", "{city}")]) | inner

    async def ask(**options: Any) -> str:
        config: Any = {"metadata": {OPTION: options}}
        value = {"city": "Paris"}
        answer = (
            chain.invoke(value, config) if mode == "sync" else await chain.ainvoke(value, config)
        )
        return str(answer.tool_calls[0]["id"])

    assert [await ask(), await ask(bypass=True), await ask()] == ["call_1", "call_2", "call_2"]
    assert inner.kwargs_seen == [{}] * 2


async def test_call_options_for_a_bare_call(
    invoke: Any, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = WeatherAgentModel()
    global_cache(TieredLLMCache(semantic=False))

    async def ask() -> str:
        return str((await invoke(inner, "Paris")).tool_calls[0]["id"])

    assert [await ask(), await ask()] == ["call_1", "call_1"]
    with call_options(bypass=True) as options:
        assert options.bypass and await ask() == "call_2"
    assert await ask() == "call_2"
    wrapped = cached(
        WeatherAgentModel(), TieredLLMCache(semantic=False)
    )  # the same block serves it
    assert (await invoke(wrapped, "Paris")).tool_calls[0]["id"] == "call_1"
    with call_options(refresh=True):
        assert (await invoke(wrapped, "Paris")).tool_calls[0]["id"] == "call_2"
    assert (await invoke(wrapped, "Paris")).tool_calls[0]["id"] == "call_2"
    with pytest.raises(InvalidRequestError, match="unknown"), call_options(bypas=True):
        pass
    assert inner.kwargs_seen == [{}] * 2


async def test_a_keyword_under_set_llm_cache_is_flagged(
    invoke: Any, global_cache: Callable[[BaseCache], None], caplog: pytest.LogCaptureFixture
) -> None:
    inner = WeatherAgentModel()
    global_cache(TieredLLMCache(semantic=False))
    for _ in range(2):  # LangChain cannot keep a keyword from the provider: said once
        await invoke(inner, "Paris", tiered_cache={"bypass": True})
    flagged = [r for r in caplog.records if "model keyword is sent to the provider" in r.message]
    assert len(flagged) == 1 and flagged[0].levelname == "WARNING"
    assert inner.kwargs_seen == [{OPTION: {"bypass": True}}]  # what the provider got


@pytest.mark.parametrize("path", PATHS)
async def test_options_in_an_agent_config(
    path: Path, mode: Mode, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = WeatherAgentModel()
    agent = weather_agent(model_on_path(path, inner, global_cache))

    async def run(**options: Any) -> str:
        config: Any = {"metadata": {OPTION: options}} if options else None
        value = {"messages": [HumanMessage("Paris")]}
        state = (
            agent.invoke(value, config) if mode == "sync" else await agent.ainvoke(value, config)
        )
        assert state["messages"][-1].content == "The weather in Paris is sunny."
        return str(state["messages"][1].tool_calls[0]["id"])

    assert [await run(), await run()] == ["call_1", "call_1"]
    assert inner.calls == 2  # one call a step, then hits
    assert await run(bypass=True) == "call_3" and inner.calls == 4
    assert await run() == "call_3" and inner.calls == 4
    assert all(OPTION not in kwargs and "tools" in kwargs for kwargs in inner.kwargs_seen)


# -- single flight: concurrent identical misses wait for the first call ----------------------------
RUNS_AT_ONCE = 8
DEADLINE = 20.0


class GatedWeather(WeatherAgentModel):
    """WeatherAgentModel whose call at step n waits until `8 * n` chat-model runs have started
    (every concurrent run has reached that step's cache lookup), bounded by a deadline: without
    single flight each run would be calling the model by then."""

    _runs: Runs = PrivateAttr(default_factory=Runs)

    def _gate(self, messages: list[BaseMessage]) -> None:
        step = 2 if isinstance(messages[-1], ToolMessage) else 1
        with self._runs.started:
            self._runs.started.wait_for(
                lambda: len(self._runs.starts) >= RUNS_AT_ONCE * step, timeout=DEADLINE
            )

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self._gate(messages)
        return super()._generate(messages, *args, **kwargs)

    def _stream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        self._gate(messages)
        yield from super()._stream(messages, *args, **kwargs)

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        await asyncio.to_thread(self._gate, messages)  # the other runs go on meanwhile
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk


@pytest.mark.parametrize("path", PATHS)
async def test_concurrent_identical_agent_runs_make_one_model_call_per_step(
    path: Path,
    mode: Mode,
    global_cache: Callable[[BaseCache], None],
    make_lc_cache: LCCacheFactory,
) -> None:
    inner = GatedWeather()
    runs = inner._runs
    model, _ = model_and_cache(path, inner, global_cache, make_lc_cache(semantic=False))
    agent = weather_agent(model)
    value = {"messages": [HumanMessage("Paris")]}
    config: Any = {"callbacks": [runs], "max_concurrency": RUNS_AT_ONCE}
    if mode == "sync":
        states = agent.batch([value] * RUNS_AT_ONCE, config)
    else:
        states = await asyncio.gather(
            *(agent.ainvoke(value, {"callbacks": [runs]}) for _ in range(RUNS_AT_ONCE))
        )
    assert [s["messages"][-1].content for s in states] == ["The weather in Paris is sunny."] * 8
    assert inner.calls == 2  # one model call per step, for the eight runs
    assert len(runs.starts) == 2 * RUNS_AT_ONCE
    answers = [s["messages"][-1].id for s in states]
    assert len(set(answers)) == RUNS_AT_ONCE  # the waiters' answers are theirs: new ids


async def test_concurrent_identical_streamed_agent_runs_make_one_model_call_per_step(
    mode: Mode, make_lc_cache: LCCacheFactory
) -> None:
    inner = GatedWeather()
    runs = inner._runs
    agent = weather_agent(cached(inner, make_lc_cache(semantic=False)))
    value = {"messages": [HumanMessage("Paris")]}
    config: Any = {"callbacks": [runs]}

    def tokens(items: list[tuple[BaseMessage, dict[str, Any]]]) -> str:
        return text_of([(m, meta) for m, meta in items if meta["langgraph_node"] == "model"])

    if mode == "sync":
        with ThreadPoolExecutor(RUNS_AT_ONCE) as pool:
            streams = list(
                pool.map(
                    lambda _: list(agent.stream(value, config, stream_mode="messages")),
                    range(RUNS_AT_ONCE),
                )
            )
    else:
        streams = await asyncio.gather(
            *(streamed_messages(agent, value, mode, config) for _ in range(RUNS_AT_ONCE))
        )
    assert [tokens(s) for s in streams] == ["The weather in Paris is sunny."] * RUNS_AT_ONCE
    assert inner.calls == 2


class Rendezvous(WeatherAgentModel):
    """Each call waits (bounded) until two calls are in the model at once."""

    _inside: list[int] = PrivateAttr(default_factory=lambda: [0, 0])  # now, most at once
    _cv: threading.Condition = PrivateAttr(default_factory=threading.Condition)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        with self._cv:
            self._inside[0] += 1
            self._inside[1] = max(self._inside)
            self._cv.notify_all()
            self._cv.wait_for(lambda: self._inside[1] >= 2, timeout=DEADLINE / 4)
        try:
            return super()._generate(messages, *args, **kwargs)
        finally:
            with self._cv:
                self._inside[0] -= 1


@pytest.mark.parametrize("path", PATHS)
def test_calls_that_store_nothing_wait_for_no_one(
    path: Path, global_cache: Callable[[BaseCache], None]
) -> None:
    inner = Rendezvous()
    model = model_on_path(path, inner, global_cache)

    def ask(_: int) -> str:
        with call_options(no_store=True):
            return str(model.invoke("Paris").tool_calls[0]["id"])

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(ask, range(2)))
    assert answers == ["call_1", "call_2"] and inner._inside[1] == 2  # side by side
