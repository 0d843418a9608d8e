from __future__ import annotations

import pytest
from tiered_cache import ConfigurationError, Normalizer


def test_nfkc_and_whitespace() -> None:
    n = Normalizer()
    assert n("  \uff48\uff45\uff4c\uff4c\uff4f\u00a0\n\tworld  ") == "hello world"
    assert n("\ufb01le") == "file"


def test_casefold_is_optional() -> None:
    assert Normalizer()("Hello") == "Hello"
    assert Normalizer(casefold=True)("HeLLo Straße") == "hello strasse"


def test_default_strips_only_timestamps() -> None:
    n = Normalizer()
    assert n("now is 2026-11-23T05:27:00Z, ok") == "now is <*>, ok"
    assert n("order 2026-11-23") == "order 2026-11-23"
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    assert n(f"id {uuid}") == f"id {uuid}"


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("uuid", "req 123e4567-e89b-12d3-a456-426614174000 done", "req <*> done"),
        ("date", "on 2024-02-29 please", "on <*> please"),
        ("hex_id", "trace 9f86d081884c7d659a2feaa0c55ad015 end", "trace <*> end"),
        ("timestamp", "at 2024-02-29 13:45:01.123+02:00 x", "at <*> x"),
    ],
)
def test_each_dynamic_token_kind(kind: str, text: str, expected: str) -> None:
    assert Normalizer(strip=(kind,), fillers=False)(text) == expected


def test_hex_id_needs_letters_and_digits() -> None:
    n = Normalizer(strip=("hex_id",))
    assert n("number 12345678901234567890") == "number 12345678901234567890"


def test_user_regex_and_describe() -> None:
    n = Normalizer(strip=(), extra_patterns=(r"session=\w+",))
    assert n("hi session=abc123 there") == "hi <*> there"
    assert n.describe() == ["nfkc", r"strip:/session=\w+/", "whitespace", "fillers"]


def test_bad_settings_raise() -> None:
    with pytest.raises(ConfigurationError, match="unknown dynamic token"):
        Normalizer(strip=("phone",))
    with pytest.raises(ConfigurationError, match="invalid normalization regex"):
        Normalizer(extra_patterns=("(",))
