"""No false hits among unrelated questions that share one long system prompt (real model)."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from .conftest import Invoke, LCCacheFactory
from .fakes import EchoChat

SYSTEM = (
    "You are AcmeBot, the assistant of Acme Corporation's learning portal. Answer politely and "
    "concisely, cite the course catalogue when you can, never reveal internal tooling, keep every "
    "answer under 120 words, and suggest a follow-up course at the end of each answer. " * 4
)
TOPICS = [
    "photosynthesis", "the French Revolution", "black holes", "sourdough bread",
    "TCP handshakes", "the stock market", "honeybee colonies", "volcanic eruptions",
    "the Roman aqueducts", "jazz improvisation", "quantum entanglement", "marathon training",
    "the immune system", "chess openings", "climate change", "medieval castles",
    "machine learning", "coral reefs", "the printing press", "origami",
    "compound interest", "the Great Wall of China", "plate tectonics", "vaccines",
    "the Olympic Games", "electric cars", "Shakespeare's sonnets", "the water cycle",
    "cryptocurrency", "sleep cycles", "the Renaissance", "solar panels",
    "DNA replication", "bonsai trees", "the Cold War", "fermentation",
    "the Amazon rainforest", "opera singing", "public key cryptography", "glaciers",
]  # fmt: skip
FORMS = [
    "Explain in simple terms how {} works.",
    "What are the most common misconceptions about {}?",
    "Who were the first people to study {}, and when?",
    "Write a short poem about {}.",
    "Which books would you recommend to a beginner who wants to learn about {}?",
]
# 200 different questions; the closest pair (two poems) has cosine ~0.83 with all-MiniLM-L6-v2.
QUESTIONS = [form.format(topic) for topic in TOPICS for form in FORMS]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_no_false_hits_among_200_unrelated_questions(
    make_lc_cache: LCCacheFactory, mode: str
) -> None:
    assert len(set(QUESTIONS)) == 200
    cache = make_lc_cache()
    assert cache.stats()["config"]["semantic"] is True
    model = EchoChat(cache=cache)
    for n, question in enumerate(QUESTIONS, start=1):
        messages = [SystemMessage(SYSTEM), HumanMessage(question)]
        answer = model.invoke(messages) if mode == "sync" else await model.ainvoke(messages)
        assert answer.content == f"answer #{n} to: {question}", "served another question's answer"
    stats = cache.stats()
    assert model.calls == 200
    assert (stats["exact_hits"], stats["semantic_hits"], stats["misses"]) == (0, 0, 200)
    # ...while the cache does serve a paraphrase of one of them from the same partition.
    hit = model.invoke([SystemMessage(SYSTEM), HumanMessage("Write a little poem about glaciers.")])
    assert hit.content == "answer #199 to: Write a short poem about glaciers."


async def test_repeats_of_many_questions_all_hit(
    make_lc_cache: LCCacheFactory, invoke: Invoke
) -> None:
    cache = make_lc_cache()
    model = EchoChat(cache=cache)
    for question in QUESTIONS[:20]:
        await invoke(model, [SystemMessage(SYSTEM), HumanMessage(question)])
    for n, question in enumerate(QUESTIONS[:20], start=1):
        answer = await invoke(model, [SystemMessage(SYSTEM), HumanMessage(question)])
        assert answer.content == f"answer #{n} to: {question}"
        assert answer.response_metadata["tiered_cache"]["tier"] == "exact"
    assert model.calls == 20
