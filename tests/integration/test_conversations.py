"""history="relevant" with the real model and verifier, on both backends, sync and async."""

from __future__ import annotations

from typing import Any

from ..conftest import CacheFactory
from .conftest import Driver


def chat(*turns: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"role": role, "content": text} for role, text in turns]


QUESTION = ("user", "How long does it take to get there from Madrid?")
LISBON = chat(
    ("user", "I'm planning a trip to Lisbon next week."), ("assistant", "Great choice!"), QUESTION
)


def test_a_reworded_conversation_is_served_and_a_swapped_one_is_not(
    make_cache: CacheFactory, io: Driver
) -> None:
    cache = make_cache(history="relevant")
    assert io.store(cache, cache.request(LISBON, model="m"), "About 1 hour by plane.")
    reworded = chat(
        ("user", "Next week I am travelling to Lisbon."), ("assistant", "Great choice!"), QUESTION
    )
    hit = io.lookup(cache, cache.request(reworded, model="m"))
    assert hit is not None and hit.payload == "About 1 hour by plane."
    assert hit.tier == "semantic"
    swapped = chat(
        ("user", "I'm planning a trip to Oslo next week."), ("assistant", "Great choice!"), QUESTION
    )
    assert io.lookup(cache, cache.request(swapped, model="m")) is None
    later = chat(
        ("user", "I'm planning a trip to Lisbon in July."), ("assistant", "Great choice!"), QUESTION
    )
    assert io.lookup(cache, cache.request(later, model="m")) is None


def test_exact_history_serves_no_reworded_conversation(
    make_cache: CacheFactory, io: Driver
) -> None:
    cache = make_cache(history="exact")
    assert io.store(cache, cache.request(LISBON, model="m"), "About 1 hour by plane.")
    reworded = chat(
        ("user", "Next week I am travelling to Lisbon."), ("assistant", "Great choice!"), QUESTION
    )
    assert io.lookup(cache, cache.request(reworded, model="m")) is None
    hit = io.lookup(cache, cache.request(LISBON, model="m"))
    assert hit is not None and hit.payload == "About 1 hour by plane." and hit.tier == "exact"


def test_explain_says_which_turns_were_compared_and_why_it_missed(
    make_cache: CacheFactory,
) -> None:
    cache = make_cache(history="relevant")
    cache.store(cache.request(LISBON, model="m"), "About 1 hour by plane.")
    swapped = chat(
        ("user", "hi"),
        ("assistant", "Hello! How can I help you today?"),
        ("user", "I'm planning a trip to Lisbon in July."),
        ("assistant", "Great choice!"),
        QUESTION,
    )
    report = cache.explain(cache.request(swapped, model="m"))
    conversation = report["conversation"]
    assert conversation["final_question"] == "reaches back: 'it'"
    assert [t["compared"] for t in conversation["turns"]] == [False, False, True, True]
    assert conversation["turns"][0]["why"] == "left out: chatter never decides a hit"
    assert report["served"] is None
    assert report["reason"].startswith("miss: the question matched, but not the conversation")
    assert conversation["checks"][0]["turn"] == {
        "role": "user",
        "text": "I'm planning a trip to Lisbon in July.",
    }
