"""Cost accounting: what the tokens of a served hit would have cost, from a price table.

Prices are USD per 1M input and output tokens, keyed by a model-name pattern. A pattern matches
when it occurs in the model identity as a whole word (case-insensitive; `*` and `?` are
wildcards): `o1` matches `model=o1-preview` but not `foo1`. The longest matching pattern wins,
so `gpt-4o-mini` beats `gpt-4o`. Unknown models cost nothing (we never
guess a price). Users extend or override the table with `CacheConfig.prices`: a path to a JSON
file or an inline JSON object, `{"my-model": {"input": 1.0, "output": 2.0}}` or `[1.0, 2.0]`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

# List prices (USD per 1M tokens: input, output) of common models; override them with `prices`.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "mistral-small": (0.20, 0.60),
    "mistral-large": (2.00, 6.00),
}


def usage_tokens(usage: Mapping[str, Any] | None) -> tuple[int, int, int]:
    """(input, output, total) tokens of a stored usage, in LangChain or OpenAI naming."""
    if not usage:
        return 0, 0, 0
    input_tokens = _count(usage, "input_tokens", "prompt_tokens")
    output_tokens = _count(usage, "output_tokens", "completion_tokens")
    total = _count(usage, "total_tokens") or input_tokens + output_tokens
    return input_tokens, output_tokens, total


def _count(usage: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int) and type(value) is not bool and value >= 0:
            return value
    return 0


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float


def _price(pattern: str, raw: Any) -> Price:
    if isinstance(raw, Mapping):
        values = (raw.get("input"), raw.get("output"))
    elif isinstance(raw, (list, tuple)) and len(raw) == 2:
        values = (raw[0], raw[1])
    else:
        values = (None, None)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ConfigurationError(
            f"prices[{pattern!r}]={raw!r}: give USD per 1M tokens as "
            '{"input": 0.15, "output": 0.6} or [0.15, 0.6]'
        )
    return Price(float(values[0]), float(values[1]))  # type: ignore[arg-type]


def _word_regex(pattern: str) -> re.Pattern[str]:
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])")


class PriceTable:
    """Model-name patterns to prices; `cost(model, usage)` is the USD a served hit saved."""

    def __init__(self, prices: Mapping[str, Any] | None = None, *, defaults: bool = True) -> None:
        table: dict[str, Price] = {}
        if defaults:
            table.update({k: Price(*v) for k, v in DEFAULT_PRICES.items()})
        for pattern, raw in (prices or {}).items():
            if not isinstance(pattern, str) or not pattern:
                raise ConfigurationError(f"prices: pattern {pattern!r} must be a non-empty string")
            table[pattern.lower()] = _price(pattern, raw)
        # Most specific first: the longest pattern that matches wins.
        self._patterns = sorted(table.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        self._regexes = [(_word_regex(p), p, price) for p, price in self._patterns]
        self._lookup = functools.lru_cache(maxsize=1024)(self._find)

    @classmethod
    def load(cls, source: str | Mapping[str, Any] | None) -> PriceTable:
        """The default table extended by `source`: inline JSON, a JSON file path, or a mapping."""
        if source is None or isinstance(source, Mapping):
            return cls(source)
        text = source.strip()
        if not text.startswith("{"):
            try:
                text = Path(text).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"prices: cannot read {source!r}: {exc}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"prices: not a JSON object ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigurationError("prices: the JSON must be an object of pattern -> price")
        return cls(data)

    def _find(self, model: str) -> tuple[str, Price] | None:
        name = model.lower()
        for regex, pattern, price in self._regexes:
            if regex.search(name):
                return pattern, price
        return None

    def price(self, model: str | None) -> tuple[str, Price] | None:
        """The matching (pattern, price), or None for an unknown model."""
        return self._lookup(model) if model else None

    def cost(self, model: str | None, usage: Mapping[str, Any] | None) -> float:
        """USD that `usage` costs on `model` (0 when unpriced). A usage with only a total is
        priced at the input rate: a lower bound, as output tokens cost more."""
        found = self.price(model)
        if found is None:
            return 0.0
        return self.cost_of(found[1], usage_tokens(usage))

    @staticmethod
    def cost_of(price: Price, tokens: tuple[int, int, int]) -> float:
        """USD of (input, output, total) tokens at `price`."""
        input_tokens, output_tokens, total = tokens
        if not input_tokens and not output_tokens:
            input_tokens = total
        return (input_tokens * price.input + output_tokens * price.output) / 1e6

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {p: {"input": v.input, "output": v.output} for p, v in sorted(self._patterns)}


__all__ = ["DEFAULT_PRICES", "Price", "PriceTable", "usage_tokens"]
