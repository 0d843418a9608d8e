"""Cost accounting: the price table, and money saved by served hits in the cache's stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiered_cache import ConfigurationError, TieredCache
from tiered_cache.observability.pricing import PriceTable, usage_tokens


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}, (10, 5, 15)),
        ({"prompt_tokens": 7, "completion_tokens": 3}, (7, 3, 10)),
        ({"total_tokens": 21}, (0, 0, 21)),
        ({"input_tokens": True, "output_tokens": -3}, (0, 0, 0)),
        (None, (0, 0, 0)),
    ],
)
def test_usage_tokens_reads_both_namings(usage: dict[str, int] | None, expected: tuple) -> None:
    assert usage_tokens(usage) == expected


def test_most_specific_pattern_wins_and_words_must_match() -> None:
    table = PriceTable()
    assert table.price("gpt-4o-mini")[0] == "gpt-4o-mini"  # type: ignore[index]
    assert table.price("gpt-4o-2024-08-06")[0] == "gpt-4o"  # type: ignore[index]
    # LangChain's model identity: class path plus the model name.
    identity = "langchain_openai.chat_models.base.ChatOpenAI:model_name=gpt-4o-mini"
    assert table.price(identity)[0] == "gpt-4o-mini"  # type: ignore[index]
    assert table.price("anthropic:claude-3-5-sonnet-20241022")[0] == "claude-3-5-sonnet"  # type: ignore[index]
    assert table.price("foo1") is None  # "o1" only as a word
    assert table.price("my-own-model") is None
    assert table.cost("my-own-model", {"input_tokens": 1000}) == 0.0


def test_cost_uses_input_and_output_prices() -> None:
    table = PriceTable({"acme-large": {"input": 2.0, "output": 10.0}})
    usage = {"input_tokens": 1_000, "output_tokens": 500}
    assert table.cost("acme-large", usage) == pytest.approx((1_000 * 2.0 + 500 * 10.0) / 1e6)
    # A total alone is priced at the input rate (a lower bound).
    assert table.cost("acme-large", {"total_tokens": 1_000}) == pytest.approx(2.0 / 1e3)


def test_user_prices_override_defaults_inline_or_from_a_file(tmp_path: Path) -> None:
    inline = PriceTable.load('{"gpt-4o-mini": [1, 2], "acme-*": {"input": 3, "output": 4}}')
    assert inline.cost("gpt-4o-mini", {"input_tokens": 1_000_000}) == pytest.approx(1.0)
    assert inline.price("acme-turbo")[0] == "acme-*"  # type: ignore[index]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"house-model": [0.5, 1.5]}))
    from_file = PriceTable.load(str(path))
    assert from_file.cost("house-model", {"output_tokens": 2_000_000}) == pytest.approx(3.0)


@pytest.mark.parametrize(
    "source",
    ['{"m": [1]}', '{"m": {"input": -1, "output": 1}}', "[1, 2]", "/no/such/prices.json", "{oops"],
)
def test_bad_prices_are_configuration_errors(source: str) -> None:
    with pytest.raises(ConfigurationError, match="prices"):
        PriceTable.load(source)
    with pytest.raises(ConfigurationError, match="prices"):
        TieredCache(semantic=False, prices=source)


def test_served_hits_report_tokens_and_money_saved() -> None:
    cache = TieredCache(semantic=False, prices='{"acme-large": [2.0, 10.0]}')
    priced = cache.request("What is the capital of France?", model="acme-large")
    unpriced = cache.request("What is the capital of Spain?", model="house-model")
    cache.store(priced, "Paris.", usage={"prompt_tokens": 1_000, "completion_tokens": 100})
    cache.store(unpriced, "Madrid.", usage={"total_tokens": 50})
    for _ in range(3):
        assert cache.lookup(priced).payload == "Paris."  # type: ignore[union-attr]
    assert cache.lookup(unpriced).payload == "Madrid."  # type: ignore[union-attr]
    stats = cache.stats()
    assert stats["tokens_saved"] == 3 * 1_100 + 50
    assert stats["usd_saved"] == pytest.approx(3 * (1_000 * 2.0 + 100 * 10.0) / 1e6)
