"""Paraphrases hit through CachedLLM with the real all-MiniLM-L6-v2 model (threshold 0.90)."""

from __future__ import annotations

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage

from llamaindex_tiered_cache import CACHE_KEY, CachedLLM

from ..conftest import CacheFactory
from .conftest import CountingLLM, unmarked
from .test_llm import APIS, chat, complete, stream_complete

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
PARAPHRASE = "What's the capital city of France?"


@pytest.mark.parametrize("api", APIS)
async def test_a_paraphrase_hits_the_semantic_tier(make_cache: CacheFactory, api: str) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())

    first = await complete(llm, api, QUESTION)
    second = await complete(llm, api, PARAPHRASE)

    assert inner.calls == 1
    assert second.text == first.text == f"answer 1 from fake-1: {QUESTION}"
    info = second.additional_kwargs[CACHE_KEY]
    assert info["tier"] == "semantic"
    assert info["similarity"] == pytest.approx(0.957, abs=0.01)
    assert info["matched_query"] == QUESTION

    await complete(llm, api, "How do I bake sourdough bread?")
    assert inner.calls == 2


@pytest.mark.parametrize("api", APIS)
async def test_a_paraphrased_chat_hits_within_its_conversation(
    make_cache: CacheFactory, api: str
) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())

    def conversation(system: str, question: str) -> list[ChatMessage]:
        return [
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=question),
        ]

    first = await chat(llm, api, conversation("You are a geography tutor.", QUESTION))
    second = await chat(llm, api, conversation("You are a geography tutor.", PARAPHRASE))
    assert inner.calls == 1
    assert unmarked(second.message) == first.message
    assert second.additional_kwargs[CACHE_KEY]["tier"] == "semantic"

    # another system prompt is another partition: not even a paraphrase of it may hit
    await chat(llm, api, conversation("You are a travel agent.", PARAPHRASE))
    assert inner.calls == 2


@pytest.mark.parametrize("api", APIS)
async def test_a_paraphrase_replays_on_the_streaming_endpoint(
    make_cache: CacheFactory, api: str
) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())

    live = await stream_complete(llm, api, QUESTION)
    replay = await stream_complete(llm, api, PARAPHRASE)

    assert inner.calls == 1
    assert "".join(c.delta or "" for c in replay) == live[-1].text
    assert replay[-1].additional_kwargs[CACHE_KEY]["tier"] == "semantic"


async def test_a_sampling_llm_gets_exact_hits_only(make_cache: CacheFactory) -> None:
    inner = CountingLLM(temperature=0.7)
    llm = CachedLLM(llm=inner, cache=make_cache())

    llm.complete(QUESTION)
    llm.complete(PARAPHRASE)
    repeat = llm.complete(QUESTION)

    assert inner.calls == 2
    assert repeat.additional_kwargs[CACHE_KEY]["tier"] == "exact"


def test_the_default_cache_is_exact_plus_semantic() -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner)

    llm.complete(QUESTION)
    hit = llm.complete(PARAPHRASE)

    assert inner.calls == 1
    assert hit.additional_kwargs[CACHE_KEY]["tier"] == "semantic"


@pytest.mark.usefixtures("restore_settings")
def test_rag_prompts_sharing_their_context_do_not_collide(make_cache: CacheFactory) -> None:
    """A query engine's prompt is mostly retrieved context: embedded whole, different questions
    over the same context look alike (measured > 0.92 with ~800 characters of context)."""
    inner = CountingLLM()
    Settings.llm = CachedLLM(llm=inner, cache=make_cache())
    Settings.embed_model = MockEmbedding(embed_dim=8)
    context = "France is a country in Western Europe. Its capital is Paris. " * 15
    engine = VectorStoreIndex.from_documents([Document(text=context)]).as_query_engine()
    questions = [QUESTION, "How many people live in Italy?", "Who painted the Mona Lisa?"]

    answers = [str(engine.query(q)) for q in questions]
    repeat = str(engine.query(QUESTION))

    assert inner.calls == 3
    assert len(set(answers)) == 3
    assert repeat == answers[0]


def test_long_user_turns_are_exact_only(make_cache: CacheFactory) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache(semantic_max_chars=20))

    llm.complete(QUESTION)
    llm.complete(PARAPHRASE)
    repeat = llm.complete(QUESTION)

    assert inner.calls == 2
    assert repeat.additional_kwargs[CACHE_KEY]["tier"] == "exact"
    assert CachedLLM(llm=inner, semantic=False)._cache.config.semantic_max_chars == 400
