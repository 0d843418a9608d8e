"""`GraphCache`: LangGraph's node cache (`compile(cache=...)`, `CachePolicy`) on the core's
key-value store, embedded, on Redis and on a Redis Cluster, sync and async."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
import tiered_cache
from langchain_core.messages import AIMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy
from tiered_cache import ConfigurationError

from langchain_tiered_cache import TieredLLMCache
from langchain_tiered_cache.graph import GraphCache, entry_key

from ..conftest import CacheFactory


@pytest.fixture
def graph_cache(make_cache: CacheFactory) -> Iterator[GraphCache]:
    cache = GraphCache(make_cache(semantic=False))
    yield cache
    cache.clear()


class State(TypedDict):
    city: str
    answer: Any


class Counted:
    """A node that counts its runs; its answer names the run that computed it."""

    def __init__(self, value: Any = None, *, text: bool = False) -> None:
        self.runs = 0
        self.value = value
        self.text = text

    def __call__(self, state: State) -> dict[str, Any]:
        self.runs += 1
        if self.value is not None:
            return {"answer": self.value}
        if self.text:
            return {"answer": f"{state['city']}: run {self.runs}"}
        return {"answer": AIMessage(f"{state['city']}: run {self.runs}", id=f"m{self.runs}")}


def graph_of(nodes: dict[str, Counted], cache: GraphCache, ttl: int | None = None) -> Any:
    graph = StateGraph(State)
    previous = START
    for name, node in nodes.items():
        graph.add_node(name, node, cache_policy=CachePolicy(ttl=ttl))
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile(cache=cache)


async def run(app: Any, mode: str, city: str) -> Any:
    value = {"city": city}
    return (app.invoke(value) if mode == "sync" else await app.ainvoke(value))["answer"]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_cached_node_runs_once_for_identical_inputs(
    graph_cache: GraphCache, mode: str
) -> None:
    node = Counted()
    app = graph_of({"ask": node}, graph_cache)
    first = await run(app, mode, "Paris")
    second = await run(app, mode, "Paris")
    assert node.runs == 1
    assert second == first == AIMessage("Paris: run 1", id="m1")
    assert await run(app, mode, "London") == AIMessage("London: run 2", id="m2")
    assert node.runs == 2


async def test_clear_by_namespace(graph_cache: GraphCache, mode: str) -> None:
    first, second = Counted("sunny"), Counted(text=True)  # the first answers alike each run
    app = graph_of({"first": first, "second": second}, graph_cache)
    await run(app, mode, "Paris")
    await run(app, mode, "Paris")
    assert (first.runs, second.runs) == (1, 1)
    if mode == "sync":  # LangGraph's own call: clear(namespaces of these nodes)
        app.clear_cache(["first"])
    else:
        await app.aclear_cache(["first"])
    await run(app, mode, "Paris")
    assert (first.runs, second.runs) == (2, 1)  # only the first node's entry went
    if mode == "sync":
        graph_cache.clear()
    else:
        await graph_cache.aclear()
    await run(app, mode, "Paris")
    assert (first.runs, second.runs) == (3, 2)


def test_a_namespace_covers_exactly_its_own_keys(graph_cache: GraphCache) -> None:
    keys = [(("a",), "k"), (("a", "b"), "k"), (("a|b",), "k"), (("a/b",), "k"), ((), "k")]
    graph_cache.set({key: (f"value of {key}", None) for key in keys})
    assert graph_cache.get(keys) == {key: f"value of {key}" for key in keys}
    graph_cache.clear([("a",)])
    assert sorted(graph_cache.get(keys)) == sorted(keys[1:])
    assert len({entry_key(ns, k) for ns, k in keys}) == len(keys)


def test_an_entry_expires_with_its_ttl(graph_cache: GraphCache) -> None:
    graph_cache.set({(("n",), "short"): ("soon gone", 1), (("n",), "long"): ("kept", 600)})
    assert graph_cache.get([(("n",), "short")]) == {(("n",), "short"): "soon gone"}
    deadline = time.monotonic() + 10
    while graph_cache.get([(("n",), "short")]) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the condition, bounded by the deadline
    assert graph_cache.get([(("n",), "short"), (("n",), "long")]) == {(("n",), "long"): "kept"}


@dataclasses.dataclass
class Forecast:
    city: str
    sky: str


async def test_a_type_the_serializer_may_not_build_is_a_miss_never_plain_data(
    make_cache: CacheFactory, mode: str
) -> None:
    forecast = Forecast("Paris", "sunny")
    strict = GraphCache(make_cache(semantic=False))  # LangGraph's safe types only
    node = Counted(forecast)
    app = graph_of({"ask": node}, strict)
    assert await run(app, mode, "Paris") == forecast
    assert await run(app, mode, "Paris") == forecast  # not {"city": ..., "sky": ...}
    assert node.runs == 2
    strict.clear()
    allowed = JsonPlusSerializer(allowed_msgpack_modules=[(__name__, "Forecast")])
    trusting = GraphCache(strict.core, serde=allowed)
    node = Counted(forecast)
    app = graph_of({"ask": node}, trusting)
    assert [await run(app, mode, "Paris"), await run(app, mode, "Paris")] == [forecast] * 2
    assert node.runs == 1
    trusting.clear()


def test_never_pickle(graph_cache: GraphCache) -> None:
    with pytest.raises(ConfigurationError, match="pickle"):
        GraphCache(graph_cache.core, serde=JsonPlusSerializer(pickle_fallback=True))
    graph_cache.core.aux.set(entry_key(("n",), "k"), b"pickle:\x80\x04K\x01.", None)
    assert graph_cache.get([(("n",), "k")]) == {}


@pytest.mark.parametrize("kind", ["core", "langchain"])
async def test_a_response_cache_given_to_compile_says_what_to_use(kind: str, mode: str) -> None:
    core = tiered_cache.TieredCache(semantic=False)
    given = core if kind == "core" else TieredLLMCache(core)
    app = graph_of({"ask": Counted()}, given)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"GraphCache\(cache\)"):
        await run(app, mode, "Paris")
