"""CachedEmbedding: repeats never reach the wrapped model, batches embed only their misses, two
models never share an entry; sync and async, on both backends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from tiered_cache import ConfigurationError, TieredCache

from llamaindex_tiered_cache import CachedEmbedding

from ..conftest import CacheFactory
from .conftest import CountingEmbedding, fake_vector
from .test_llm import APIS, broken_cache


async def embed_texts(model: CachedEmbedding, api: str, texts: list[str]) -> list[list[float]]:
    if api == "sync":
        return model.get_text_embedding_batch(texts)
    return await model.aget_text_embedding_batch(texts)


async def embed_text(model: CachedEmbedding, api: str, text: str) -> list[float]:
    if api == "sync":
        return model.get_text_embedding(text)
    return await model.aget_text_embedding(text)


async def embed_query(model: CachedEmbedding, api: str, query: str) -> list[float]:
    if api == "sync":
        return model.get_query_embedding(query)
    return await model.aget_query_embedding(query)


@pytest.mark.parametrize("api", APIS)
async def test_repeated_texts_are_not_embedded_again(make_cache: CacheFactory, api: str) -> None:
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=make_cache(semantic=False))
    texts = ["alpha", "beta", "gamma"]

    first = await embed_texts(model, api, texts)
    second = await embed_texts(model, api, texts)
    single = await embed_text(model, api, "beta")

    assert inner.batches == [texts]
    assert first == [fake_vector("m1", "text", t) for t in texts]
    assert second == first
    assert single == first[1]


@pytest.mark.parametrize("api", APIS)
async def test_a_batch_embeds_only_its_misses_in_one_call(
    make_cache: CacheFactory, api: str
) -> None:
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=make_cache(semantic=False))

    await embed_texts(model, api, ["a", "b"])
    mixed = await embed_texts(model, api, ["c", "a", "d", "b", "c"])

    assert inner.batches == [["a", "b"], ["c", "d"]]
    assert mixed == [fake_vector("m1", "text", t) for t in ["c", "a", "d", "b", "c"]]


@pytest.mark.parametrize("api", APIS)
async def test_queries_are_cached_apart_from_texts(make_cache: CacheFactory, api: str) -> None:
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=make_cache(semantic=False))

    as_text = await embed_text(model, api, "same words")
    as_query = await embed_query(model, api, "same words")
    again = await embed_query(model, api, "same words")

    assert inner.queries == ["same words"]
    assert as_query == again == fake_vector("m1", "query", "same words")
    assert as_text != as_query


@pytest.mark.parametrize("api", APIS)
async def test_two_models_never_collide(make_cache: CacheFactory, api: str) -> None:
    cache = make_cache(semantic=False)
    one, two = CountingEmbedding(model_name="m1"), CountingEmbedding(model_name="m2")
    cached_one, cached_two = CachedEmbedding(one, cache=cache), CachedEmbedding(two, cache=cache)

    v1 = await embed_texts(cached_one, api, ["hello"])
    v2 = await embed_texts(cached_two, api, ["hello"])

    assert v1 == [fake_vector("m1", "text", "hello")]
    assert v2 == [fake_vector("m2", "text", "hello")]
    assert (one.texts, two.texts) == (["hello"], ["hello"])

    # same class and model name, different output-affecting settings: still apart
    small = CachedEmbedding(MockEmbedding(embed_dim=4), cache=cache)
    large = CachedEmbedding(MockEmbedding(embed_dim=16), cache=cache)
    assert len(await embed_text(small, api, "hello")) == 4
    assert len(await embed_text(large, api, "hello")) == 16


async def test_async_calls_use_the_inner_async_methods(make_cache: CacheFactory) -> None:
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=make_cache(semantic=False))

    await model.aget_text_embedding_batch(["x", "y"])
    await model.aget_text_embedding("z")

    assert inner.async_batches == [["x", "y"], ["z"]]
    assert inner.batches == inner.async_batches


async def test_vectors_are_stored_as_json_under_emb_keys(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False)
    model = CachedEmbedding(CountingEmbedding(model_name="m1"), cache=cache)

    model.get_text_embedding("stored")

    rows = cache.aux.scan("emb:")
    assert len(rows) == 1
    key, raw = rows[0]
    assert len(key) == len("emb:") + 64
    assert orjson.loads(raw) == fake_vector("m1", "text", "stored")


@pytest.mark.usefixtures("restore_settings")
def test_as_settings_embed_model_an_index_is_built_once(make_cache: CacheFactory) -> None:
    inner = CountingEmbedding(model_name="m1")
    Settings.embed_model = CachedEmbedding(inner, cache=make_cache(semantic=False))
    documents = [Document(text="Paris is the capital of France."), Document(text="Rome.")]

    VectorStoreIndex.from_documents(documents)
    embedded_once = list(inner.texts)
    index = VectorStoreIndex.from_documents(documents)
    index.as_retriever().retrieve("capital?")
    index.as_retriever().retrieve("capital?")

    assert len(embedded_once) == 2
    assert inner.texts == embedded_once
    assert inner.queries == ["capital?"]


@pytest.mark.parametrize("api", APIS)
async def test_a_failing_backend_still_embeds(api: str) -> None:
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=broken_cache())

    vectors = await embed_texts(model, api, ["a", "b"])
    again = await embed_texts(model, api, ["a", "b"])
    query = await embed_query(model, api, "q")

    assert vectors == again == [fake_vector("m1", "text", t) for t in ["a", "b"]]
    assert query == fake_vector("m1", "query", "q")
    assert len(inner.batches) == 2


def test_a_corrupt_entry_is_embedded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = TieredCache(semantic=False)
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=cache)
    model.get_text_embedding("t")
    ((key, _),) = cache.aux.scan("emb:")
    cache.aux.set(key, b'{"not": "a vector"}')

    assert model.get_text_embedding("t") == fake_vector("m1", "text", "t")
    assert inner.batches == [["t"], ["t"]]
    assert model.get_text_embedding("t") == fake_vector("m1", "text", "t")  # rewritten
    assert len(inner.batches) == 2


def test_defaults_and_settings() -> None:
    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, namespace="emb-app")
    assert model.model_name == "m1"
    assert model.cache.stats()["config"]["semantic"] is False
    assert model.cache.stats()["config"]["namespace"] == "emb-app"
    with pytest.raises(ConfigurationError):
        CachedEmbedding(inner, cache=TieredCache(semantic=False), namespace="x")


def test_usable_as_a_transformation(make_cache: CacheFactory) -> None:
    from llama_index.core.schema import TextNode

    inner = CountingEmbedding(model_name="m1")
    model = CachedEmbedding(inner, cache=make_cache(semantic=False))
    nodes: list[Any] = [TextNode(text="one"), TextNode(text="two")]

    model(nodes)
    again = model([TextNode(text="one"), TextNode(text="two")])

    assert [n.embedding for n in again] == [fake_vector("m1", "text", t) for t in ["one", "two"]]
    assert inner.texts == ["one", "two"]
