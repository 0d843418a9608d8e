"""The contrast lexicon (data), its loader, and the veto it drives."""

from __future__ import annotations

import math

import pytest
from tiered_cache.errors import ConfigurationError
from tiered_cache.rules.contrast import (
    contrast_mismatch,
    contrasts,
    lemma,
    lemmas,
    lexicon,
    parse_lexicon,
)
from tiered_cache.rules.features import extract_features
from tiered_cache.rules.verifier import Verifier, VerifierWeights


def test_loader_reads_every_kind_of_line() -> None:
    lex = parse_lexicon(
        "# comment\n[s]\nhot cold\nopen | closed shut\n* north south east\n"
        "[weak]\nin out\n[phrase]\nat least = at_least\n[irregular]\nmen = man\n"
        "[drop]\nsouth north\n"
    )
    assert lex.opposite("hot", "cold") and lex.opposite("cold", "hot")
    assert lex.opposite("open", "shut") and not lex.opposite("closed", "shut")
    assert lex.opposite("east", "south") and not lex.opposite("north", "south")
    assert lex.weak == frozenset({"in", "out"})
    assert lex.phrases == ((("at", "least"), "at_least"),)
    assert dict(lex.irregular) == {"men": "man"}


@pytest.mark.parametrize(
    "text", ["[phrase]\nat least\n", "[drop]\na b c\n", "[x]\na b c\n", "[x]\na |\n"]
)
def test_loader_rejects_malformed_lines(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_lexicon(text)


def test_shipped_lexicon_loads_once_with_wordnet_and_curated_pairs() -> None:
    lex = lexicon()
    assert lexicon() is lex
    pairs = [("hot", "cold"), ("buy", "sell"), ("legal", "illegal"), ("am", "pm"),
             ("weekday", "weekend"), ("ios", "android"), ("man", "woman"),
             ("minimum", "maximum"), ("upload", "download"), ("at_least", "at_most")]  # fmt: skip
    for a, b in pairs:
        assert lex.opposite(a, b), (a, b)
    assert not lex.opposite("child", "kid")  # near synonyms are not a contrast
    assert len(lex.partners) > 3000


@pytest.mark.parametrize(
    ("token", "expected"),
    [("enabled", "enable"), ("stopped", "stop"), ("weekends", "weekend"), ("women's", "woman"),
     ("closed", "closed"), ("starting", "start"), ("children", "child"),
     ("hotter", "hot"), ("houses", "house")],
)  # fmt: skip
def test_simple_lemmas(token: str, expected: str) -> None:
    assert lemma(token) == expected


def test_phrases_and_hours_are_folded() -> None:
    assert lemmas("Open at least at 7pm") == ("open", "at_least", "at", "7", "pm")
    assert lemmas("non-refundable") == ("nonrefundable",)


@pytest.mark.parametrize(
    ("a", "b", "pair"),
    [
        ("Is the store open on Sunday?", "Is the store closed on Sunday?", ("open", "closed")),
        ("Is it safe to eat raw eggs?", "Is it unsafe to eat raw eggs?", ("safe", "unsafe")),
        ("Is the fare refundable?", "Is the fare non-refundable?",
         ("refundable", "nonrefundable")),
        ("Is this plant harmless to cats?", "Is this plant harmful to cats?",
         ("harmless", "harmful")),
        ("Does the gym open at 7am?", "Does the gym open at 7 p.m.?", ("am", "pm")),
        ("Free delivery for orders under £50?", "Free delivery for orders over £50?",
         ("under", "over")),
        ("Where can I buy men's running shoes?", "Where can I buy women's running shoes?",
         ("man", "woman")),
        ("Is the museum open on weekdays?", "Is the museum open on weekends?",
         ("weekday", "weekend")),
        ("How do I log in to my account?", "How do I log out of my account?",
         ("login", "logout")),
        ("Is smoking allowed on the terrace?", "Is smoking banned on the terrace?",
         ("allowed", "banned")),
    ],
)  # fmt: skip
def test_opposites_are_found(a: str, b: str, pair: tuple[str, str]) -> None:
    assert contrasts(a, b) == [pair]
    assert contrasts(b, a) == [pair[::-1]]
    assert contrast_mismatch(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I understand recursion?", "How do I get under the bridge?"),  # not un- + word
        ("How do I revert a commit?", "How can I undo a commit?"),  # "do" is weak: not aligned
        ("What is the capital of France?", "What's the capital city of France?"),
        ("Is it hot or cold in Oslo in May?", "Is Oslo cold or hot in May?"),  # both in both
        ("What toys suit a child of five?", "What toys suit a kid of five?"),
        ("What is it like to live in Paris?", "How is life in Paris unlike London?"),
    ],
)
def test_no_contrast_where_none_is_meant(a: str, b: str) -> None:
    assert contrasts(a, b) == []


def test_the_verifier_vetoes_a_contrast_and_explains_it() -> None:
    a, b = "Is the pool open on Sunday?", "Is the pool closed on Sunday?"
    assert extract_features(a, b, 0.97)["contrast_mismatch"] == 1.0
    verifier = Verifier(judge=False)
    assert "contrast_mismatch" in verifier.weights.vetoes
    assert verifier.score(a, b, 0.99) == 0.0
    assert verifier.explain(a, b, 0.99)["veto:contrast_mismatch"] == -math.inf
    shipped = VerifierWeights.load(judge=True)
    assert "contrast_mismatch" in shipped.vetoes
