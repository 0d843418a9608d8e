"""Operand order of non-commutative operators: "10 minus 4" is not "4 minus 10".

Two questions that apply the same non-commutative operator to the same operands in another
order ask for another answer ("12 divided by 3" / "3 divided by 12", "2 to the power of 5" /
"5 to the power of 2", "subtract 4 from 10" / "10 minus 4" in reverse), although their
embeddings and every other feature agree. `operations` reads (operator, left, right) triples
from a question; `swapped` is the veto: the same operator, the same operands, another order.
Operators are folded into families ("minus", "-", "less", "take away", "subtract X from Y" are
one), so that a wording change does not hide a swap; operands are numbers (digits or number
words, compared by value), single letters, or one word that is not a function word.
"""

from __future__ import annotations

import functools
import re

# An operand: a number (digits, decimals, thousands separators, a sign), a number word, or a
# word (a variable, a unit-less name). Function words are never operands (see `_operand`).
_NUM = r"[-+\u2212]?\d+(?:[.,]\d+)*"
_WORD = r"[^\W\d_][\w']*"
_OPERAND = rf"(?<![\w.,'])({_NUM}|{_WORD})"  # a whole token: "10" is not read from "210"

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}  # fmt: skip
_FUNCTION_WORDS = """a an the is are was were be been am do does did what which who whom whose how
why when where it its this that these those there here and or but if of to in on at by for from
with as than then so i you he she we they me him her us them my your his our their please
calculate compute tell find give show evaluate solve answer result value number equal equals
get gets got much many percent percentage per cent mod modulo minus plus times over less
divided power raised into subtract take away ratio choose"""
_NOT_OPERANDS = frozenset(_FUNCTION_WORDS.split())

# (family, pattern, which groups are (left, right), numeric operands only). Numeric-only rules
# are those whose words mean other things next to words ("over 18", "state-of-the-art").
_RULES: tuple[tuple[str, re.Pattern[str], tuple[int, int], bool], ...] = tuple(
    (family, re.compile(pattern, re.IGNORECASE), order, numeric)
    for family, pattern, order, numeric in (
        # subtraction
        ("minus", rf"{_OPERAND}\s+(?:minus|less|take\s+away)\s+{_OPERAND}", (1, 2), False),
        ("minus", rf"{_OPERAND}\s*[-\u2212\u2013]\s*{_OPERAND}", (1, 2), True),
        ("minus", rf"{_OPERAND}\s+[-\u2212\u2013]\s+{_OPERAND}", (1, 2), False),
        (
            "minus",
            rf"\b(?:subtract|take(?:\s+away)?|deduct)\s+{_OPERAND}\s+from\s+{_OPERAND}",
            (2, 1),
            False,
        ),
        # division
        ("divide", rf"{_OPERAND}\s+(?:is\s+)?divided\s+by\s+{_OPERAND}", (1, 2), False),
        ("divide", rf"\bdivide\s+{_OPERAND}\s+by\s+{_OPERAND}", (1, 2), False),
        ("divide", rf"{_OPERAND}\s+over\s+{_OPERAND}", (1, 2), True),
        ("divide", rf"{_OPERAND}\s*[/÷]\s*{_OPERAND}", (1, 2), False),
        ("divide", rf"{_OPERAND}\s+(?:goes\s+)?into\s+{_OPERAND}", (2, 1), True),
        ("divide", rf"\bratio\s+of\s+{_OPERAND}\s+(?:to|and)\s+{_OPERAND}", (1, 2), False),
        ("divide", rf"(?<![\w.]){_OPERAND}\s*:\s*{_OPERAND}\s+ratio", (1, 2), True),
        # powers
        (
            "power",
            rf"{_OPERAND}\s+(?:raised\s+)?to\s+the\s+power\s+(?:of\s+)?{_OPERAND}",
            (1, 2),
            False,
        ),
        ("power", rf"{_OPERAND}\s+raised\s+to\s+{_OPERAND}", (1, 2), False),
        ("power", rf"{_OPERAND}\s*(?:\^|\*\*)\s*{_OPERAND}", (1, 2), False),
        # percentages: "X percent of Y", "X as a percentage of Y", "what percent of Y is X"
        ("percent", rf"{_OPERAND}\s*(?:%|percent|per\s+cent)\s+of\s+{_OPERAND}", (1, 2), True),
        (
            "percent",
            rf"{_OPERAND}\s+as\s+an?\s+(?:percentage|percent|fraction|proportion)\s+"
            rf"of\s+{_OPERAND}",
            (1, 2),
            False,
        ),
        (
            "percent",
            rf"\bwhat\s+(?:percent|percentage|fraction|proportion)\s+of\s+{_OPERAND}\s+"
            rf"(?:is|are)\s+{_OPERAND}",
            (2, 1),
            False,
        ),
        (
            "percent",
            rf"{_OPERAND}\s+is\s+what\s+(?:percent|percentage|fraction|proportion)\s+"
            rf"of\s+{_OPERAND}",
            (1, 2),
            False,
        ),
        # remainders
        ("modulo", rf"{_OPERAND}\s+(?:mod|modulo|modulus)\s+{_OPERAND}", (1, 2), False),
        ("modulo", rf"{_OPERAND}\s+%\s*{_OPERAND}(?!\s*(?:of|percent)\b)", (1, 2), True),
        # combinations
        ("choose", rf"{_OPERAND}\s+choose\s+{_OPERAND}", (1, 2), True),
    )
)


def _operand(raw: str, numeric: bool) -> str | None:
    """The operand as compared (numbers by value), or None when `raw` cannot be one."""
    low = raw.lower().replace("\u2212", "-")  # the minus sign
    if low in _NUMBER_WORDS:
        return f"{_NUMBER_WORDS[low]:g}"
    if low[-1:].isdigit():
        try:
            return f"{float(low.replace(',', '')):g}"
        except ValueError:
            return None if numeric else low
    if numeric or low in _NOT_OPERANDS:
        return None
    return low


@functools.lru_cache(maxsize=4096)
def operations(text: str) -> frozenset[tuple[str, str, str]]:
    """The (family, left, right) of each non-commutative operation the text asks about."""
    out: set[tuple[str, str, str]] = set()
    for family, pattern, (left, right), numeric in _RULES:
        pos = 0
        # Resuming after the first operand reads chains: "10 - 4 - 2" is two operations.
        while (match := pattern.search(text, pos)) is not None:
            a = _operand(match.group(left), numeric)
            b = _operand(match.group(right), numeric)
            if a is not None and b is not None and a != b:
                out.add((family, a, b))
            pos = match.end(1)
    return frozenset(out)


def swapped(a: frozenset[tuple[str, str, str]], b: frozenset[tuple[str, str, str]]) -> bool:
    """Whether one text applies an operator to operands that the other text has only in the
    other order (the same operator and operands: another question)."""
    return any((op, y, x) in b and (op, x, y) not in b and (op, y, x) not in a for op, x, y in a)
