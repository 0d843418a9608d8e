"""FT.SEARCH replies, both protocols: an entry that expired between the index's match and the
read of its fields comes back without them, and is skipped, never a KeyError."""

from __future__ import annotations

import pytest

pytest.importorskip("redis")
from tiered_cache.backends.redis.index import parse_search

PREFIX = "tc:{ns}:v1:e:"


def test_resp2_reply_skips_an_entry_that_expired_mid_search() -> None:
    raw = [2, f"{PREFIX}aaa".encode(), [b"dist", b"0.1", b"q", b"What is X?"], f"{PREFIX}bbb", []]
    [match] = parse_search(raw, PREFIX)
    assert (match.key, round(match.similarity, 3), match.query_text) == ("aaa", 0.9, "What is X?")


def test_resp3_reply_skips_an_entry_that_expired_mid_search() -> None:
    raw = {
        b"results": [
            {b"id": f"{PREFIX}aaa".encode(), b"extra_attributes": {b"dist": b"0.25"}},
            {b"id": f"{PREFIX}bbb".encode(), b"extra_attributes": {}},
        ]
    }
    [match] = parse_search(raw, PREFIX)
    assert (match.key, match.similarity, match.query_text) == ("aaa", 0.75, None)
