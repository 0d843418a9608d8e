"""Revive LangChain JSON into an explicit list of classes, paying for the list once.

`langchain_core.load.loads(text, allowed_objects=[...])` rebuilds its set of allowed class paths
from every serialization mapping on each call (about 0.3 ms for our dozen classes, more than the
rest of a cache hit). `Reviver` builds that set once and enforces it through LangChain's public
`init_validator` hook, on top of LangChain's own `"core"` allowlist: a class outside our list is
refused exactly as `loads(..., allowed_objects=[...])` refuses it.

`fresh_copy` copies revived data for the next caller faster than reviving it again; `copier`
compiles a copy of one revived value for callers that copy it again and again (a hit served
many times), with the JSON containers of each model rebuilt by one `orjson.loads`.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson
from langchain_core.load import load
from langchain_core.load.load import ALL_SERIALIZABLE_MAPPINGS, default_init_validator
from langchain_core.load.serializable import Serializable
from pydantic import BaseModel

T = TypeVar("T")
_IMMUTABLE = (str, int, float, bool, type(None))


class Reviver:
    """`loads` restricted to `classes` (and the legacy paths that name them)."""

    def __init__(self, classes: Iterable[type[Serializable]]) -> None:
        paths = {tuple(cls.lc_id()) for cls in classes}
        paths |= {key for key, value in ALL_SERIALIZABLE_MAPPINGS.items() if tuple(value) in paths}
        self.allowed: frozenset[tuple[str, ...]] = frozenset(paths)

    def _validate(self, class_path: tuple[str, ...], kwargs: dict[str, Any]) -> None:
        if class_path not in self.allowed:
            raise ValueError(f"Deserialization of {class_path!r} is not allowed")
        default_init_validator(class_path, kwargs)

    def loads(self, text: str) -> Any:
        """Like `langchain_core.load.loads(text, allowed_objects=classes)`."""
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:  # NaN, huge integers, lone surrogates: json reads them
            obj = json.loads(text)
        return load(obj, allowed_objects="core", init_validator=self._validate)


def fresh_copy(value: T) -> T:
    """A deep copy of revived LangChain data (pydantic models, dicts, lists, JSON scalars).

    Does what `copy.deepcopy` does for a pydantic model (`BaseModel.__deepcopy__`), without its
    memo: data revived from JSON shares no objects and has no cycles. About four times as fast
    as `copy.deepcopy`, ten times faster than reviving the JSON again.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: v if type(v) in _SCALARS else fresh_copy(v) for k, v in value.items()}  # type: ignore[attr-defined,return-value]
    if kind is list:
        return [v if type(v) in _SCALARS else fresh_copy(v) for v in value]  # type: ignore[attr-defined,return-value]
    if isinstance(value, BaseModel):
        new = kind.__new__(kind)
        setattr_ = object.__setattr__
        setattr_(
            new,
            "__dict__",
            {k: v if type(v) in _SCALARS else fresh_copy(v) for k, v in value.__dict__.items()},
        )
        extra = value.__pydantic_extra__
        setattr_(new, "__pydantic_extra__", None if extra is None else fresh_copy(extra))
        setattr_(new, "__pydantic_fields_set__", set(value.__pydantic_fields_set__))
        private = value.__pydantic_private__
        setattr_(new, "__pydantic_private__", None if private is None else copy.deepcopy(private))
        return new
    if isinstance(value, _IMMUTABLE):  # subclasses of str, int, ...
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset(_IMMUTABLE)


def copier(value: T) -> Callable[[], T]:
    """A function returning a fresh deep copy of `value` (revived LangChain data) on each call,
    equal to `fresh_copy(value)` and about twice as fast: each pydantic model's scalar fields
    are shared (immutable), its dict and list fields rebuilt from their JSON in one C call, its
    nested models copied the same way. Anything JSON would not give back exactly (tuples,
    non-string keys, NaN, huge integers) is copied by `fresh_copy`."""
    kind = type(value)
    if kind in _SCALARS:
        return lambda: value
    if (
        not isinstance(value, BaseModel)
        or value.__pydantic_extra__
        or (value.__pydantic_private__ is not None)
    ):
        return lambda: fresh_copy(value)
    shared: dict[str, Any] = {}
    containers: dict[str, Any] = {}
    nested: list[tuple[str, Callable[[], Any]]] = []
    for name, field_value in value.__dict__.items():
        if type(field_value) in _SCALARS:
            shared[name] = field_value
        elif isinstance(field_value, BaseModel):
            nested.append((name, copier(field_value)))
        elif _json_exact(field_value):
            containers[name] = field_value
        else:
            nested.append((name, functools.partial(fresh_copy, field_value)))
    blob = orjson.dumps(containers)
    order = tuple(value.__dict__)  # the copy keeps the fields' order (and so its repr)
    fields_set = frozenset(value.__pydantic_fields_set__)
    extra = value.__pydantic_extra__
    setattr_ = object.__setattr__

    def copy_() -> T:
        new = kind.__new__(kind)
        fields = dict.fromkeys(order)
        fields.update(shared)
        fields.update(orjson.loads(blob))
        for name, copy_field in nested:
            fields[name] = copy_field()
        setattr_(new, "__dict__", fields)
        setattr_(new, "__pydantic_extra__", None if extra is None else {})
        setattr_(new, "__pydantic_fields_set__", set(fields_set))
        setattr_(new, "__pydantic_private__", None)
        return new

    return copy_


def _json_exact(value: Any) -> bool:
    """Whether JSON gives `value` back exactly (same types, same values)."""
    try:
        back = orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return False
    return _same(back, value)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
