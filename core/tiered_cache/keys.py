"""Canonical JSON and its hashes: a key must not depend on dict order or float spelling."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson


def utf8_safe(text: str) -> str:
    """`text`, with lone surrogates (which cannot be UTF-8 encoded, hashed or stored) replaced."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def canonicalize(value: Any) -> Any:
    """A JSON-ready copy with int-valued floats as ints (0 == 0.0) and tuples/sets as lists."""
    if isinstance(value, Mapping):
        return {str(k): canonicalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonicalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((canonicalize(v) for v in value), key=repr)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return utf8_safe(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # Anything else (enums, pydantic models, classes) is identified by its text form.
    return str(value)


def canonical_json(value: Any) -> bytes:
    """Sorted-key, compact JSON of `canonicalize(value)`."""
    return orjson.dumps(canonicalize(value), option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> str:
    """sha256 hex digest of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
