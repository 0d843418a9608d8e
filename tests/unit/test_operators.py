"""The operand-order veto: the same non-commutative operator on the same operands in another
order is another question; a rewording of the same operation is not."""

from __future__ import annotations

import pytest
from tiered_cache.rules.features import extract_features
from tiered_cache.rules.operators import operations, swapped
from tiered_cache.rules.verifier import Verifier


def veto(a: str, b: str) -> bool:
    return swapped(operations(a), operations(b))


SWAPPED = [
    ("What is 10 minus 4?", "What is 4 minus 10?"),
    ("What is ten minus four?", "What is 4 minus 10?"),  # numbers compared by value
    ("10 less 4", "4 less 10"),
    ("What is 10 take away 4?", "What is 4 take away 10?"),
    ("What is 10-4?", "What is 4-10?"),
    ("Calculate 100 - 37", "Calculate 37 - 100"),
    ("What is 10 \u2212 4?", "What is 4 \u2212 10?"),  # the minus sign
    ("Subtract 4 from 10.", "What is 4 minus 10?"),  # 10 - 4 against 4 - 10
    ("What is 12 divided by 3?", "What is 3 divided by 12?"),
    ("Divide 12 by 3", "Divide 3 by 12"),
    ("What is 81 / 9?", "What is 9 / 81?"),
    ("What is 8 ÷ 2?", "What is 2 ÷ 8?"),
    ("What is 3 over 4 as a decimal?", "What is 4 over 3 as a decimal?"),
    ("How many times does 4 go into 12? 4 into 12", "12 into 4"),
    ("What is the ratio of 3 to 12?", "What is the ratio of 12 to 3?"),
    ("What is 2 to the power of 5?", "What is 5 to the power of 2?"),
    ("2 raised to 10", "10 raised to 2"),
    ("What is 2^10?", "What is 10 ^ 2?"),
    ("x ** y", "y ** x"),
    ("What is 30 as a percentage of 120?", "What is 120 as a percentage of 30?"),
    ("What percent of 80 is 20?", "What percent of 20 is 80?"),
    ("20 is what percent of 80?", "What percent of 20 is 80?"),
    ("What is 17 mod 5?", "What is 5 modulo 17?"),
    ("What is 10 % 3?", "What is 3 % 10?"),
    ("How many ways: 10 choose 3", "How many ways: 3 choose 10"),
    ("What is x minus y?", "What is y minus x?"),
]


@pytest.mark.parametrize(("a", "b"), SWAPPED)
def test_swapped_operands_are_vetoed_both_ways(a: str, b: str) -> None:
    assert veto(a, b) and veto(b, a)
    assert extract_features(a, b, 0.99)["operand_order_mismatch"] == 1.0


SAME = [
    ("What is 10 minus 4?", "What's 10 minus 4, please?"),
    ("Subtract 4 from 10.", "What is 10 minus 4?"),  # another wording, the same operation
    ("What is 12 divided by 3?", "Divide 12 by 3"),
    ("What percent of 80 is 20?", "20 is what percent of 80?"),
    ("What is 3 plus 4?", "What is 4 plus 3?"),  # commutative: no veto
    ("What is 3 times 4?", "What is 4 times 3?"),
    ("What is 10 minus 4?", "What is 10 minus 5?"),  # other numbers: another feature's job
    ("Who wrote the state-of-the-art 2-factor paper?", "Who wrote the 2-factor paper?"),
    ("Is it over 18 or 18 over?", "Is it over 18?"),
    ("How do I lose 5 kg in a month?", "How can I lose 5 kg in a month?"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_the_same_operation_or_none_is_not_vetoed(a: str, b: str) -> None:
    assert not veto(a, b) and not veto(b, a)


def test_a_chain_is_read_as_its_operations() -> None:
    assert operations("What is 10 - 4 - 2?") == {("minus", "10", "4"), ("minus", "4", "2")}
    assert operations("Subtract 4 from 10") == {("minus", "10", "4")}
    assert operations("What is 2 ** 8?") == {("power", "2", "8")}
    assert operations("What is the weather over London?") == frozenset()  # numbers only


@pytest.mark.parametrize("judge", [False, True])
def test_the_shipped_verifier_rejects_a_swap_whatever_the_similarity(judge: bool) -> None:
    verifier = Verifier(judge=judge)
    assert "operand_order_mismatch" in verifier.weights.vetoes
    assert not verifier.accepts("What is 10 minus 4?", "What is 4 minus 10?", 0.999)
    assert verifier.explain("What is 12 divided by 3?", "What is 3 divided by 12?", 0.99)[
        "veto:operand_order_mismatch"
    ] == float("-inf")
