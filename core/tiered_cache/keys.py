"""Canonical JSON and its hashes: a key must not depend on dict order or float spelling."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import orjson

_SAFE_INT = 2**53  # beyond this, JSON numbers lose precision (and orjson refuses > 64 bits)


def utf8_safe(text: str) -> str:
    """`text`, with lone surrogates (which cannot be UTF-8 encoded, hashed or stored) replaced."""
    if text.isascii():  # the common case, without encoding the text
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def canonicalize(value: Any) -> Any:
    """A JSON-ready copy with int-valued floats as ints (0 == 0.0) and tuples/sets as lists."""
    # Exact built-in types first: the same result as the general rules below, without their
    # ABC checks (request building canonicalizes every message on every call).
    kind = type(value)
    if kind is str:
        return utf8_safe(value)
    if kind is dict:
        return {
            (k if type(k) is str and k.isascii() else utf8_safe(str(k))): canonicalize(v)
            for k, v in value.items()
        }
    if kind is list:
        return [canonicalize(v) for v in value]
    if kind is int:
        return value if abs(value) < _SAFE_INT else str(value)
    if isinstance(value, Mapping):
        return {utf8_safe(str(k)): canonicalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonicalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((canonicalize(v) for v in value), key=repr)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)  # JSON has no NaN/inf; orjson would write null
        if value.is_integer() and abs(value) < _SAFE_INT:
            return int(value)
        return value
    if isinstance(value, int):
        return value if abs(value) < _SAFE_INT else str(value)
    if isinstance(value, str):
        return utf8_safe(value)
    # Anything else (enums, pydantic models, classes) is identified by its text form.
    return str(value)


def canonical_json(value: Any) -> bytes:
    """Sorted-key, compact JSON of `canonicalize(value)`."""
    return orjson.dumps(canonicalize(value), option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> str:
    """sha256 hex digest of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def digest_canonical(value: Any) -> str:
    """`digest` of a value that is already `canonicalize`d (skips a second pass)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
