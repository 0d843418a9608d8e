"""The near-repeat rule: a retyped question is served, a different word never."""

from __future__ import annotations

import pytest
from tiered_cache.rules.near_repeat import edits, is_typo, near_repeat, vocabulary
from tiered_cache.rules.verifier import Verifier


def test_edit_distance_counts_a_transposition_once() -> None:
    assert edits("exercise", "execrise") == 1
    assert edits("height", "heihht") == 1
    assert edits("spreadsheet", "speradsheet") == 1
    assert edits("cat", "dog") == 3


def test_typos_are_unknown_words_close_to_the_other() -> None:
    assert "exercise" in vocabulary() and "execrise" not in vocabulary()
    assert is_typo("exercise", "execrise")
    assert not is_typo("austria", "australia")  # two known words
    assert not is_typo("form", "from")
    assert not is_typo("pinterest", "interest")  # the first letter differs
    assert not is_typo("5", "6")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What foods are high in iron?", "what fods are high in iron"),
        ("Is it safe to eat raw eggs?", "IS IT SAFE TO EAT RAW EGGS??"),
        ("Is drinking hot water after exercise a good idea?",
         "Is drinking hot water after execrise a good idea?"),
    ],
)  # fmt: skip
def test_retyped_questions_are_near_repeats(a: str, b: str) -> None:
    assert near_repeat(a, b)
    accepted, _ = Verifier(judge=False).prejudge(a, b, 0.7)
    assert accepted is True


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is the capital of Austria?", "What is the capital of Australia?"),
        ("How do I lose 5 kg?", "How do I lose 6 kg?"),
        ("What foods are high in iron?", "What foods are rich in iron?"),
        ("What foods are high in iron?", "Which foods are high in iron?"),
        ("Who is the CEO of Google?", "Who is the CFO of Google?"),  # acronyms, short words
        ("Who founded NASA?", "Who founded NASSA?"),
        ("What does a cat eat?", "What does a cut eat?"),
    ],
)
def test_other_words_are_not_near_repeats(a: str, b: str) -> None:
    assert not near_repeat(a, b)


def test_vetoes_still_win_and_the_floor_holds() -> None:
    verifier = Verifier(judge=False)
    # A typo'd near repeat whose numbers differ: the number veto rejects it.
    assert near_repeat("How do I lose 5 kg?", "How do I lose 5 kg?")
    assert not verifier.near_repeat("How do I lose 5 kg", "How do I loose 50 kg")
    assert verifier.near_repeat("What fods are high in iron?", "What foods are high in iron?", 0.7)
    assert not verifier.near_repeat(
        "What fods are high in iron?", "What foods are high in iron?", 0.4
    )
    assert verifier.explain("what fods are high in iron", "What foods are high in iron?", 0.7)[
        "rule:near_repeat"
    ] == float("inf")
