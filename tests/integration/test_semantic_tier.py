"""The semantic tier with the real all-MiniLM-L6-v2 model, on both backends."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from tiered_cache import SchemaMismatchError, TieredCache

from ..conftest import CacheFactory, wait_for
from .conftest import Driver

SYSTEM = (
    "You are AcmeBot, the support assistant of Acme Corporation. Answer politely and concisely, "
    "cite the knowledge base when you can, never reveal internal tooling, and escalate to a human "
    "agent when the customer is angry. Today you help customers of the EU region. " * 3
)
TOPICS = [
    "chess",
    "sourdough bread",
    "the French revolution",
    "black holes",
    "tax returns",
    "knitting",
    "electric cars",
    "marathon training",
    "jazz piano",
    "tomato gardening",
    "cryptography",
    "the Roman empire",
    "vegan cooking",
    "volcanoes",
    "stock options",
    "origami",
    "submarines",
    "beekeeping",
    "quantum computing",
    "wedding planning",
    "rock climbing",
    "photosynthesis",
    "medieval castles",
    "cat allergies",
    "solar panels",
    "the stock market crash of 1929",
    "learning Japanese",
    "coral reefs",
    "vintage watches",
    "home espresso",
    "hurricanes",
    "the Olympic games",
    "wine tasting",
    "dog training",
    "3D printing",
    "Shakespeare's sonnets",
    "mortgage refinancing",
    "the immune system",
    "ancient Egypt",
    "surfing",
    "podcast editing",
    "glacier melting",
    "sushi making",
    "retirement savings",
    "the Mars rovers",
    "pottery",
    "bird migration",
    "car insurance",
    "kite surfing",
    "the printing press",
    "sleep apnea",
    "typography",
    "hydroponics",
    "the cold war",
    "poker strategy",
    "skin care",
    "railway history",
    "meditation",
    "basketball rules",
    "earthquakes",
]
FORMS = [
    "Explain the basics of {t} to a beginner.",
    "What are common mistakes people make with {t}?",
    "Can you recommend a good book about {t}?",
    "How has {t} changed over the last hundred years?",
    "What does it cost to get started with {t}?",
]


def chat(cache: TieredCache, question: str, **kw: Any) -> Any:
    messages = [
        {"role": "system", "content": kw.pop("system", SYSTEM)},
        {"role": "user", "content": question},
    ]
    return cache.request(messages, model=kw.pop("model", "gpt-x"), **kw)


def test_paraphrase_hits_with_similarity(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache()
    io.store(cache, chat(cache, "What is the capital of France?"), "Paris.")
    hit = io.lookup(cache, chat(cache, "What's the capital city of France?"))
    assert hit is not None
    assert (hit.payload, hit.tier) == ("Paris.", "semantic")
    assert 0.9 <= hit.similarity < 1.0
    assert hit.matched_query == "What is the capital of France?"
    assert io.lookup(cache, chat(cache, "How do I reset my router password?")) is None
    stats = cache.stats()
    assert (stats["semantic_hits"], stats["misses"]) == (1, 1)


def test_exact_repeat_never_embeds(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache()
    req = chat(cache, "How tall is Mount Everest?")
    io.store(cache, req, "8849 m")
    assert cache.embeddings is not None
    calls = cache.embeddings.encode_calls
    texts = cache.embeddings.encoded_texts
    cache.embeddings._memo.clear()  # even with a cold memo, L1 answers first
    hit = io.lookup(cache, req)
    assert hit is not None and (hit.payload, hit.tier) == ("8849 m", "exact")
    assert (cache.embeddings.encode_calls, cache.embeddings.encoded_texts) == (calls, texts)


def test_no_false_hits_among_unrelated_questions_sharing_a_system_prompt(
    make_cache: CacheFactory,
) -> None:
    cache = make_cache()
    stored = [f.format(t=t) for t, f in itertools.product(TOPICS[:20], FORMS)][:100]
    asked = [f.format(t=t) for t, f in itertools.product(TOPICS[20:60], FORMS)]
    assert len(asked) == 200
    assert cache.embeddings is not None
    cache.embeddings.embed_many(stored + asked)  # one batch: keeps the test fast
    for i, q in enumerate(stored):
        cache.store(chat(cache, q), f"answer {i}")
    hits = [q for q in asked if cache.lookup(chat(cache, q)) is not None]
    assert hits == []
    # The same cache does answer a paraphrase of a stored question: the test can fail.
    hit = cache.lookup(chat(cache, "Explain the basics of chess to a total beginner."))
    assert hit is not None and hit.payload == "answer 0"


@pytest.mark.parametrize(
    "change",
    [
        {"system": "You are a pirate. Answer like one."},
        {"model": "other-model"},
        {"params": {"temperature": 0, "max_tokens": 5}},
        {"tools": [{"name": "web_search"}]},
    ],
)
def test_same_question_in_another_partition_misses(
    make_cache: CacheFactory, io: Driver, change: dict[str, Any]
) -> None:
    cache = make_cache()
    io.store(cache, chat(cache, "What is the capital of France?", params={"temperature": 0}), "P")
    kw = {"params": {"temperature": 0}, **change}
    assert io.lookup(cache, chat(cache, "What is the capital of France?", **kw)) is None
    assert io.lookup(cache, chat(cache, "What's the capital city of France?", **kw)) is None


def test_model_b_never_hides_model_a(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache()
    q = "Summarize the plot of Hamlet."
    io.store(cache, chat(cache, q, model="model-a"), "A's answer")
    io.store(cache, chat(cache, q, model="model-b"), "B's answer")
    for model, answer in (("model-a", "A's answer"), ("model-b", "B's answer")):
        exact = io.lookup(cache, chat(cache, q, model=model))
        para = io.lookup(cache, chat(cache, "Give me a summary of Hamlet's plot.", model=model))
        assert exact is not None and exact.payload == answer
        assert para is not None and (para.payload, para.tier) == (answer, "semantic")


def test_partition_filter_holds_when_a_nearer_neighbour_is_elsewhere(
    make_cache: CacheFactory, io: Driver
) -> None:
    cache = make_cache()
    # Model b holds a near-identical question; model a only a weaker paraphrase.
    io.store(cache, chat(cache, "What's the capital city of France?", model="b"), "b")
    io.store(cache, chat(cache, "Which city is the capital of France?", model="a"), "a")
    hit = io.lookup(cache, chat(cache, "What is the capital city of France?", model="a"))
    assert hit is not None and hit.payload == "a"


def test_hot_requests_are_exact_only(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache()
    hot = {"temperature": 0.8}
    io.store(cache, chat(cache, "Write a haiku about autumn.", params=hot), "leaves")
    exact = io.lookup(cache, chat(cache, "Write a haiku about autumn.", params=hot))
    assert exact is not None and exact.payload == "leaves"
    assert io.lookup(cache, chat(cache, "Write a haiku about the autumn.", params=hot)) is None
    loose = make_cache(max_semantic_temperature=1.0)
    io.store(loose, chat(loose, "Write a haiku about autumn.", params=hot), "leaves")
    para = io.lookup(loose, chat(loose, "Write a haiku about the autumn.", params=hot))
    assert para is not None and para.payload == "leaves"


def test_ttl_removes_the_vector_too(make_cache: CacheFactory, io: Driver) -> None:
    cache = make_cache(ttl=3.0)  # fixed TTL: the lookups below do not extend it
    io.store(cache, chat(cache, "What is the capital of France?"), "Paris")
    hit = io.lookup(cache, chat(cache, "What's the capital city of France?"))
    assert hit is not None and hit.payload == "Paris"
    para = chat(cache, "What's the capital city of France?")
    wait_for(lambda: io.lookup(cache, para) is None, "the entry to expire", timeout=30)
    assert cache.index is not None
    vector = cache.embeddings.embed("What is the capital of France?")  # type: ignore[union-attr]
    partition = chat(cache, "x").partition_key
    assert cache.index.search(partition, vector, 5) == []


def test_concurrent_async_lookups_share_one_encode(make_cache: CacheFactory) -> None:
    cache = make_cache(batch_window_ms=500)  # wide: every L1 miss reaches the window
    assert cache.embeddings is not None
    questions = [f.format(t=t) for t, f in itertools.product(TOPICS[:4], FORMS[:4])]

    async def run() -> list[Any]:
        return await asyncio.gather(*(cache.alookup(chat(cache, q)) for q in questions))

    before = cache.embeddings.encode_calls
    assert asyncio.run(run()) == [None] * 16
    assert cache.embeddings.encode_calls - before == 1
    assert cache.embeddings.encoded_texts >= 16


@pytest.mark.redis
def test_redis_index_is_hnsw_and_schema_mismatch_is_refused(redis_url: str, namespace: str) -> None:
    import redis

    cache = TieredCache.from_url(redis_url, namespace=namespace, hnsw_m=24, vector_dtype="float32")
    client = redis.Redis.from_url(redis_url, protocol=2)
    info = client.execute_command("FT.INFO", cache.redis.keys.index_name)
    text = repr(info)
    assert "HNSW" in text and "384" in text and "24" in text
    with pytest.raises(SchemaMismatchError, match="migrate_index=True"):
        TieredCache.from_url(redis_url, namespace=namespace, vector_dtype="float16")
    migrated = TieredCache.from_url(
        redis_url, namespace=namespace, vector_dtype="float16", migrate_index=True
    )
    req = chat(migrated, "What is the capital of France?")
    migrated.store(req, "Paris")
    hit = migrated.lookup(chat(migrated, "What's the capital city of France?"))
    assert hit is not None and hit.payload == "Paris"
    migrated.clear()
    cache.close()
    migrated.close()
