"""TieredKVStore: the BaseKVStore contract on both backends, sync and async, and an
IngestionPipeline that skips its transformations on the second run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from llama_index.core import Document
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, TransformComponent
from pydantic import PrivateAttr
from tiered_cache import BackendError, ConfigurationError, TieredCache

from llamaindex_tiered_cache import TieredKVStore

from .test_llm import APIS, broken_cache


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, namespace: str) -> Iterator[TieredKVStore]:
    """An empty store: `TieredKVStore()` embedded, or `from_url` on the session's Redis Stack."""
    if request.param == "redis":
        made = TieredKVStore.from_url(request.getfixturevalue("redis_url"), namespace=namespace)
    else:
        made = TieredKVStore()
    yield made
    made.cache.clear()
    made.close()


async def call(store: TieredKVStore, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """`store.<method>(...)` or `await store.a<method>(...)`: one test body for both."""
    if api == "sync":
        return getattr(store, method)(*args, **kwargs)
    return await getattr(store, "a" + method)(*args, **kwargs)


@pytest.mark.parametrize("api", APIS)
async def test_put_get_delete(store: TieredKVStore, api: str) -> None:
    value = {"text": "héllo", "n": 3, "nested": {"xs": [1.5, None, True]}}

    assert await call(store, api, "get", "k1") is None
    await call(store, api, "put", "k1", value)
    assert await call(store, api, "get", "k1") == value

    await call(store, api, "put", "k1", {"v": 2})
    assert await call(store, api, "get", "k1") == {"v": 2}

    assert await call(store, api, "delete", "k1") is True
    assert await call(store, api, "delete", "k1") is False
    assert await call(store, api, "get", "k1") is None


@pytest.mark.parametrize("api", APIS)
async def test_get_all_and_collections(store: TieredKVStore, api: str) -> None:
    await call(store, api, "put", "a", {"v": 1})
    await call(store, api, "put", "b", {"v": 2}, collection="docs")
    await call(store, api, "put", "c", {"v": 3}, collection="docs")

    assert await call(store, api, "get_all") == {"a": {"v": 1}}
    assert await call(store, api, "get_all", collection="docs") == {"b": {"v": 2}, "c": {"v": 3}}
    assert await call(store, api, "get_all", collection="empty") == {}
    assert await call(store, api, "get", "a", collection="docs") is None
    assert await call(store, api, "collections") == ["data", "docs"]

    await call(store, api, "delete", "b", collection="docs")
    assert await call(store, api, "get_all", collection="docs") == {"c": {"v": 3}}


@pytest.mark.parametrize("api", APIS)
async def test_a_colon_cannot_make_collections_collide(store: TieredKVStore, api: str) -> None:
    await call(store, api, "put", "b:k", {"in": "a"}, collection="a")
    await call(store, api, "put", "k", {"in": "a:b"}, collection="a:b")
    await call(store, api, "put", "k", {"in": "a%3Ab"}, collection="a%3Ab")

    assert await call(store, api, "get_all", collection="a") == {"b:k": {"in": "a"}}
    assert await call(store, api, "get_all", collection="a:b") == {"k": {"in": "a:b"}}
    assert await call(store, api, "get", "k", collection="a%3Ab") == {"in": "a%3Ab"}
    assert await call(store, api, "collections") == ["a", "a%3Ab", "a:b"]


@pytest.mark.parametrize("api", APIS)
async def test_put_all_accepts_any_batch_size(store: TieredKVStore, api: str) -> None:
    pairs = [(f"k{i}", {"i": i}) for i in range(5)]
    await call(store, api, "put_all", pairs, collection="many", batch_size=3)
    assert await call(store, api, "get_all", collection="many") == dict(pairs)


async def test_values_must_be_dicts(store: TieredKVStore) -> None:
    with pytest.raises(TypeError):
        store.put("k", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await store.aput("k", {"obj": object()})


@pytest.mark.parametrize("api", APIS)
async def test_a_failing_backend_reads_as_empty(api: str) -> None:
    store = TieredKVStore(broken_cache())

    await call(store, api, "put", "k", {"v": 1})  # dropped, logged
    assert await call(store, api, "get", "k") is None
    assert await call(store, api, "get_all") == {}
    assert await call(store, api, "delete", "k") is False


@pytest.mark.parametrize("api", APIS)
async def test_strict_mode_raises_backend_errors(api: str) -> None:
    store = TieredKVStore(broken_cache(), strict=True)
    with pytest.raises(BackendError):
        await call(store, api, "get", "k")
    with pytest.raises(BackendError):
        await call(store, api, "put", "k", {"v": 1})


def test_cache_and_settings_are_exclusive() -> None:
    with pytest.raises(ConfigurationError):
        TieredKVStore(TieredCache(semantic=False), namespace="x")


def test_shares_a_core_cache_with_other_adapters() -> None:
    cache = TieredCache(semantic=False, ttl=60)
    store = TieredKVStore(cache)
    store.put("k", {"v": 1})
    assert store.ttl == 60
    assert [key for key, _ in cache.aux.scan("")] == ["kv:data:k"]
    assert cache.lookup(cache.request("k", model="m")) is None  # not a cached response


# -- IngestionPipeline ----------------------------------------------------------------------------
class CountingTransform(TransformComponent):
    """Uppercases node text; counts the nodes it transformed (private: not part of its hash)."""

    _seen: list[int] = PrivateAttr(default_factory=list)

    @property
    def nodes_seen(self) -> int:
        return sum(self._seen)

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        self._seen.append(len(nodes))
        for node in nodes:
            node.set_content(node.get_content().upper())  # type: ignore[attr-defined]
        return nodes


DOCUMENTS = [
    Document(text="Paris is the capital of France. " * 20, id_="d1"),
    Document(text="Rome is the capital of Italy. " * 20, id_="d2"),
]


@pytest.mark.parametrize("api", APIS)
async def test_an_ingestion_pipeline_skips_cached_transformations(
    store: TieredKVStore, api: str
) -> None:
    def pipeline(counter: CountingTransform) -> IngestionPipeline:
        return IngestionPipeline(
            transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), counter],
            cache=IngestionCache(cache=store, collection="ingest"),
        )

    async def run(p: IngestionPipeline) -> Sequence[BaseNode]:
        docs = [d.model_copy() for d in DOCUMENTS]
        return p.run(documents=docs) if api == "sync" else await p.arun(documents=docs)

    first_counter, second_counter = CountingTransform(), CountingTransform()
    first = await run(pipeline(first_counter))
    second = await run(pipeline(second_counter))

    assert first_counter.nodes_seen == len(first) > 2
    assert second_counter.nodes_seen == 0
    assert [n.get_content() for n in second] == [n.get_content() for n in first]
    assert all(n.get_content().isupper() for n in second)
    assert len(store.get_all(collection="ingest")) == 2  # one entry per transformation

    IngestionCache(cache=store, collection="ingest").clear()
    assert store.get_all(collection="ingest") == {}
