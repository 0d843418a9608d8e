"""The role veto: a reversed move is caught however it is worded."""

from __future__ import annotations

import pytest
from tiered_cache.rules.features import _STOPWORDS, _stem, extract_features
from tiered_cache.rules.roles import reversed_roles, roles
from tiered_cache.rules.verifier import Verifier


def _roles(text: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    return roles(text, _stem, _STOPWORDS)


def test_source_and_target_of_each_connector() -> None:
    assert _roles("How do I transfer photos from my phone to my laptop?") == (
        ("to", frozenset({"phone"}), frozenset({"laptop"})),
    )
    assert _roles("How can I copy the pictures on my laptop onto my phone?") == (
        ("to", frozenset({"laptop"}), frozenset({"phone"})),
    )
    assert _roles("How can I move money out of PayPal into my bank account?") == (
        ("to", frozenset({"paypal"}), frozenset({"bank", "account"})),
    )
    assert _roles("How can I save my CSV as a spreadsheet file?") == (
        ("as", frozenset({"save", "csv"}), frozenset({"spreadsheet", "file"})),
    )
    assert _roles("What is the capital of France?") == ()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I transfer photos from my phone to my laptop?",
         "How can I copy the pictures on my laptop onto my phone?"),
        ("How do I export my spreadsheet to a CSV file?",
         "How do I import a CSV file into my spreadsheet?"),
        ("How do I convert a Word document to a PDF?",
         "How can I turn a PDF into a Word document?"),
        ("How long is the flight from Sydney to Tokyo?",
         "How many hours does it take to fly to Sydney from Tokyo?"),
        ("How can I save my CSV as a spreadsheet file?",
         "How can I save my spreadsheet as a CSV file?"),
    ],
)  # fmt: skip
def test_reversed_moves_are_vetoed(a: str, b: str) -> None:
    assert reversed_roles(_roles(a), _roles(b)) and reversed_roles(_roles(b), _roles(a))
    assert extract_features(a, b, 0.95)["role_reversal"] == 1.0
    assert Verifier(judge=False).score(a, b, 0.99) == 0.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I convert a Word document to a PDF?",
         "How can I turn a Word document into a PDF?"),
        ("How do I transfer photos from my phone to my laptop?",
         "What's the best way to move pictures off my phone onto my laptop?"),
        ("How long is the flight from Sydney to Tokyo?", "How many hours from Sydney to Tokyo?"),
        # identifiers, "used to <verb>" and chained phrases are not moves
        ("The `date_as_object` parameter is used to cast dates to objects.",
         "The `date_as_object` parameter serves to convert dates into objects."),
        ("What does the `to_pandas` method convert a table to?",
         "Which type does `to_pandas` turn a table into?"),
        ("When a DatasetDict is set to jax, are the Datasets formatted as jax?",
         "When a DatasetDict is set to jax, are the Datasets converted to the jax format?"),
    ],
)  # fmt: skip
def test_the_same_move_reworded_is_not_a_reversal(a: str, b: str) -> None:
    assert not reversed_roles(_roles(a), _roles(b))
    assert extract_features(a, b, 0.95)["role_reversal"] == 0.0
