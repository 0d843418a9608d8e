"""Fillers around a request: the data file, its loader, and the normalizer's use of it."""

from __future__ import annotations

import pytest
from tiered_cache.errors import ConfigurationError
from tiered_cache.fillers import fillers, parse_fillers, strip_fillers
from tiered_cache.normalize import Normalizer
from tiered_cache.request import build_request


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("um, what is the capital of France?", "What is the capital of France?"),
        ("Hey, how do I cook rice?", "How do I cook rice?"),
        ("hey how do I cook rice?", "How do I cook rice?"),
        ("Quick question: is it safe to fly?", "Is it safe to fly?"),
        ("quick question - is it safe to fly?", "Is it safe to fly?"),
        ("so, why is the sky blue?", "Why is the sky blue?"),
        ("like, how do planes fly?", "How do planes fly?"),
        ("hi! um, can you help?", "Can you help?"),
        ("What is a monad, please?", "What is a monad?"),
        ("What is a monad please?", "What is a monad?"),
        ("What is a monad? thanks", "What is a monad?"),
        ("Please explain recursion.", "Explain recursion."),
    ],
)
def test_fillers_at_the_ends_are_dropped(text: str, expected: str) -> None:
    assert strip_fillers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",  # nothing to drop: the text (and its key) stays
        "Like what?",  # "like" without a comma is the question
        "Well water: is it safe?",  # "well" without punctuation is a noun
        "Hello world in Rust",  # a greeting not followed by a question word
        "ER wait times in Boston",  # "er" is a filler only with punctuation after it
        "Question 3 of the 2024 exam",  # so is "question"
        "Please Please Me lyrics",  # "please" before anything but a question word
        "Quick question about the refund policy",  # no colon: it may be the question
        "How do I say please in French?",  # inside the text
        "How do I say thanks",  # after a speech verb, the word is the question
        "so why is the sky blue?",  # "so" without a comma stays
        "please",  # all filler: unchanged
    ],
)
def test_words_that_can_be_the_question_stay(text: str) -> None:
    assert strip_fillers(text) == text


def test_the_normalizer_drops_fillers_unless_told_not_to() -> None:
    assert Normalizer()("um,  what is 2+2 ,  please?") == "What is 2+2?"
    assert Normalizer(fillers=False)("um, what is 2+2?") == "um, what is 2+2?"
    assert "fillers" in Normalizer().describe()
    assert "fillers" not in Normalizer(fillers=False).describe()


def test_loader_is_cached_and_rejects_malformed_files() -> None:
    assert fillers() is fillers()
    with pytest.raises(ConfigurationError, match="before any section"):
        parse_fillers("um\n")
    with pytest.raises(ConfigurationError, match="unknown section"):
        parse_fillers("[nope]\num\n")
    with pytest.raises(ConfigurationError, match="missing"):
        parse_fillers("[leading]\num\n")


def test_a_request_with_fillers_shares_the_exact_key_of_the_bare_one() -> None:
    def key(text: str, **kw: bool) -> str:
        msgs = [{"role": "user", "content": text}]
        return build_request(msgs, model="m", normalizer=Normalizer(**kw)).exact_key

    bare = key("What is the capital of France?")
    assert key("Hey, what is the capital of France? Thanks") == bare
    assert key("Hey, what is the capital of France? Thanks", fillers=False) != bare
    # Without fillers the key is the one the normalizer gave before fillers existed.
    assert key("What is the capital of France?", fillers=False) == bare
