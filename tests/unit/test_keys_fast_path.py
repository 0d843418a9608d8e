"""`canonicalize` takes shortcuts for exact built-in types; they must agree with its general rules
(stored keys depend on it)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from enum import Enum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tiered_cache.keys import canonical_json, canonicalize, digest, digest_canonical, utf8_safe

_SAFE_INT = 2**53


def reference(value: Any) -> Any:
    """`canonicalize` as it was written before the shortcuts."""
    if isinstance(value, Mapping):
        return {reference_text(str(k)): reference(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reference(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((reference(v) for v in value), key=repr)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        if value.is_integer() and abs(value) < _SAFE_INT:
            return int(value)
        return value
    if isinstance(value, int):
        return value if abs(value) < _SAFE_INT else str(value)
    if isinstance(value, str):
        return reference_text(value)
    return str(value)


def reference_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


class Color(str, Enum):
    RED = "red"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # includes lone surrogates
    st.just(Color.RED),
)
keys = st.one_of(st.text(), st.integers(-5, 5), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=3).map(OrderedDict),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_shortcuts_agree_with_the_general_rules(value: Any) -> None:
    assert canonical_json(value) == canonical_json(reference(value))
    expected = reference(value)
    if not (isinstance(expected, float) and math.isnan(expected)):
        assert canonicalize(value) == expected


@settings(max_examples=100, deadline=None)
@given(values)
def test_digest_of_a_canonical_value_skips_nothing(value: Any) -> None:
    assert digest_canonical(canonicalize(value)) == digest(value)


def test_utf8_safe_replaces_lone_surrogates_only() -> None:
    assert utf8_safe("plain ascii") == "plain ascii"
    assert utf8_safe("naïve ✓") == "naïve ✓"
    bad = "bad \ud800 text"
    assert utf8_safe(bad) == reference_text(bad) != bad
