"""Vectors of two embedding models are never compared: each model searches its own vector space
(the partition key followed by the embedder's tag), on every backend, with no migration."""

from __future__ import annotations

from tiered_cache import CacheRequest, TieredCache
from tiered_cache.embeddings.embedder import embedder_tag

from ..conftest import CacheFactory, wait_for
from ..unit.fake_embedder import MapEmbedder

STORED = "How do I reset my router password?"
ASKED = "How can I reset the password of my router?"


class OtherModel(MapEmbedder):
    """The same vectors under another model's name: only the identity differs."""

    model_id = "another-model"


def ask(cache: TieredCache, question: str) -> CacheRequest:
    return cache.request([{"role": "user", "content": question}], model="m")


def test_embedder_tags_name_model_and_dimension() -> None:
    first, other = MapEmbedder(), OtherModel()
    assert embedder_tag(first) == embedder_tag(MapEmbedder())  # stable
    assert embedder_tag(first) != embedder_tag(other)
    assert len(embedder_tag(first)) == 8 and int(embedder_tag(first), 16) >= 0  # hex: a TAG value


def test_a_new_model_never_compares_with_the_old_models_vectors(make_cache: CacheFactory) -> None:
    old = MapEmbedder()
    old.pair(STORED, ASKED, 0.99)
    first = make_cache(embedder=old, verifier=False)
    assert first.store(ask(first, STORED), "answer 1")
    hit = first.lookup(ask(first, ASKED))
    assert hit is not None and (hit.tier, hit.payload) == ("semantic", "answer 1")

    new = OtherModel()
    new.vectors = old.vectors  # identical vectors: a mix-up would hit
    if first.redis is None:  # embedded: a second cache on the same store
        second = TieredCache(
            backends=first.backends,
            embedder=new,
            verifier=False,
            namespace=first.config.namespace,
        )
    else:  # Redis: the same namespace
        second = make_cache(embedder=new, verifier=False)
    assert second.lookup(ask(second, ASKED)) is None  # the old vector is not in its space
    exact = second.lookup(ask(second, STORED))
    assert exact is not None and (exact.tier, exact.payload) == ("exact", "answer 1")

    # No migration: the new model's own entries hit semantically at once, the old ones still
    # serve the old model, and deleting by partition reaches both.
    new.pair("What is the capital of France?", "Which city is the capital of France?", 0.99)
    assert second.store(ask(second, "What is the capital of France?"), "Paris")
    hit = second.lookup(ask(second, "Which city is the capital of France?"))
    assert hit is not None and (hit.tier, hit.payload) == ("semantic", "Paris")
    assert first.lookup(ask(first, "Which city is the capital of France?")) is None
    again = first.lookup(ask(first, ASKED))
    assert again is not None and (again.tier, again.payload) == ("semantic", "answer 1")
    assert second.invalidate(partition=ask(second, STORED).partition_key) == 2
    # On Redis, `first` learns of another cache's deletes from Redis's invalidation message
    # (its near cache: a message's delivery time, not at once).
    wait_for(lambda: first.lookup(ask(first, STORED)) is None, "the old entry to be gone", 10)
    assert second.lookup(ask(second, "What is the capital of France?")) is None
