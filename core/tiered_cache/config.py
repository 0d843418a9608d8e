"""CacheConfig: every setting in one typed, validated object, made of sections.

Each section (config_sections.py) holds and validates the settings one part of the cache needs;
`CacheConfig` holds the sections. Users keep the flat names: `CacheConfig(threshold=0.8)`,
`cfg.replace(ttl=5)`, `TIERED_CACHE_THRESHOLD` and `cfg.threshold` reach `cfg.rules.threshold`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypedDict, TypeVar, overload

from .config_sections import (
    DEFAULT_THRESHOLD,
    EmbeddingSettings,
    FeedbackSettings,
    HitRules,
    KeySettings,
    ObservabilitySettings,
    RedisSettings,
    ResilienceSettings,
    StorageSettings,
    VectorSettings,
    flat_name,
)
from .errors import ConfigurationError
from .normalize import Normalizer

if TYPE_CHECKING:
    from typing import Unpack

ENV_PREFIX = "TIERED_CACHE_"
T = TypeVar("T")


class _Flat(Generic[T]):
    """Read access to a section's setting by its flat name (`cfg.ttl` is `cfg.storage.ttl`)."""

    def __init__(self, read: Callable[[CacheConfig], T]) -> None:
        self._read = read

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Flat[T]: ...
    @overload
    def __get__(self, obj: CacheConfig, owner: type[Any]) -> T: ...
    def __get__(self, obj: CacheConfig | None, owner: type[Any]) -> _Flat[T] | T:
        return self if obj is None else self._read(obj)

    def __set__(self, obj: CacheConfig, value: NoReturn) -> NoReturn:
        raise dataclasses.FrozenInstanceError("CacheConfig is frozen: use cfg.replace(...)")


@dataclass(frozen=True, init=False, repr=False)
class CacheConfig:
    """Settings for a TieredCache. Defaults give an embedded exact + semantic cache.

    Built from flat keywords (`CacheConfig(threshold=0.8, redis_url=...)`, see `Settings`),
    whole sections (`CacheConfig(redis=RedisSettings(url=...))`), or both (keywords win)."""

    keys: KeySettings = field(default_factory=KeySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    rules: HitRules = field(default_factory=HitRules)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    vectors: VectorSettings = field(default_factory=VectorSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)

    def __init__(self, **settings: Unpack[Settings]) -> None:
        given: dict[str, Any] = {}
        changes: dict[str, dict[str, Any]] = {}
        for name, value in settings.items():
            if name in _SECTIONS:
                given[name] = value
            elif name in FLAT:
                section, attr = FLAT[name]
                changes.setdefault(section, {})[attr] = value
            else:
                raise TypeError(f"CacheConfig() got an unexpected keyword argument {name!r}")
        for name, kind in _SECTIONS.items():
            value = given.get(name)
            if value is None:
                value = kind(**changes.get(name, {}))
            elif not isinstance(value, kind):
                raise ConfigurationError(f"{name}={value!r}: a {kind.__name__}")
            elif name in changes:
                value = dataclasses.replace(value, **changes[name])
            object.__setattr__(self, name, value)
        # Each section has validated itself; a check that spans two sections belongs here.

    # -- flat read access: public API, typed from the sections ------------------------------------
    namespace = _Flat(lambda c: c.keys.namespace)
    prefix = _Flat(lambda c: c.keys.prefix)
    cache_version = _Flat(lambda c: c.keys.cache_version)
    casefold = _Flat(lambda c: c.keys.casefold)
    strip_fillers = _Flat(lambda c: c.keys.strip_fillers)
    strip_tokens = _Flat(lambda c: c.keys.strip_tokens)
    strip_patterns = _Flat(lambda c: c.keys.strip_patterns)
    ttl = _Flat(lambda c: c.storage.ttl)
    ttl_policy = _Flat(lambda c: c.storage.ttl_policy)
    max_entries = _Flat(lambda c: c.storage.max_entries)
    max_bytes = _Flat(lambda c: c.storage.max_bytes)
    max_prompt_chars = _Flat(lambda c: c.storage.max_prompt_chars)
    max_payload_bytes = _Flat(lambda c: c.storage.max_payload_bytes)
    semantic = _Flat(lambda c: c.rules.semantic)
    threshold = _Flat(lambda c: c.rules.threshold)
    candidates = _Flat(lambda c: c.rules.candidates)
    verifier = _Flat(lambda c: c.rules.verifier)
    verifier_cutoff = _Flat(lambda c: c.rules.verifier_cutoff)
    judge = _Flat(lambda c: c.rules.judge)
    judge_max_calls = _Flat(lambda c: c.rules.judge_max_calls)
    max_semantic_temperature = _Flat(lambda c: c.rules.max_semantic_temperature)
    semantic_max_chars = _Flat(lambda c: c.rules.semantic_max_chars)
    history = _Flat(lambda c: c.rules.history)
    standalone = _Flat(lambda c: c.rules.standalone)
    adaptive_threshold = _Flat(lambda c: c.feedback.adaptive_threshold)
    target_precision = _Flat(lambda c: c.feedback.target_precision)
    threshold_min = _Flat(lambda c: c.feedback.threshold_min)
    threshold_max = _Flat(lambda c: c.feedback.threshold_max)
    threshold_step = _Flat(lambda c: c.feedback.threshold_step)
    threshold_lower_margin = _Flat(lambda c: c.feedback.threshold_lower_margin)
    feedback_window = _Flat(lambda c: c.feedback.feedback_window)
    feedback_min_samples = _Flat(lambda c: c.feedback.feedback_min_samples)
    threshold_refresh_seconds = _Flat(lambda c: c.feedback.threshold_refresh_seconds)
    max_wrong_rate = _Flat(lambda c: c.feedback.max_wrong_rate)
    audit_rate = _Flat(lambda c: c.feedback.audit_rate)
    embedding_model = _Flat(lambda c: c.embedding.embedding_model)
    preload = _Flat(lambda c: c.embedding.preload)
    embedding_backend = _Flat(lambda c: c.embedding.embedding_backend)
    embedding_cache_size = _Flat(lambda c: c.embedding.embedding_cache_size)
    batch_window_ms = _Flat(lambda c: c.embedding.batch_window_ms)
    exact_search_max = _Flat(lambda c: c.vectors.exact_search_max)
    hnsw_m = _Flat(lambda c: c.vectors.hnsw_m)
    hnsw_ef_construction = _Flat(lambda c: c.vectors.hnsw_ef_construction)
    hnsw_ef_runtime = _Flat(lambda c: c.vectors.hnsw_ef_runtime)
    vector_dtype = _Flat(lambda c: c.vectors.vector_dtype)
    redis_url = _Flat(lambda c: c.redis.url)
    cluster = _Flat(lambda c: c.redis.cluster)
    redis_timeout = _Flat(lambda c: c.redis.timeout)
    redis_connect_timeout = _Flat(lambda c: c.redis.connect_timeout)
    near_cache_size = _Flat(lambda c: c.redis.near_cache_size)
    migrate_index = _Flat(lambda c: c.redis.migrate_index)
    shared_stats = _Flat(lambda c: c.redis.shared_stats)
    breaker_failures = _Flat(lambda c: c.resilience.breaker_failures)
    breaker_cooldown = _Flat(lambda c: c.resilience.breaker_cooldown)
    lease_ms = _Flat(lambda c: c.resilience.lease_ms)
    lease_wait = _Flat(lambda c: c.resilience.lease_wait)
    prices = _Flat(lambda c: c.observability.prices)
    metrics = _Flat(lambda c: c.observability.metrics)

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={getattr(self, name)!r}" for name in FLAT)
        return f"CacheConfig({body})"

    def normalizer(self) -> Normalizer:
        return self.keys.normalizer()

    @property
    def similarity_threshold(self) -> float:
        """The threshold in force: `threshold`, or the one its verifier weights were chosen with."""
        return self.rules.similarity_threshold

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with these settings (flat names or sections) changed, the rest kept."""
        unknown = set(changes) - set(FLAT) - set(_SECTIONS)
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CacheConfig:
        """Read `TIERED_CACHE_<FIELD>` variables (e.g. TIERED_CACHE_REDIS_URL); kwargs win.
        Without TIERED_CACHE_REDIS_URL, `REDIS_URL` (the name RedisVL and langchain-redis read)
        is used when it is set and not empty."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, f in setting_fields().items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse(name, str(f.type), raw)
        if "redis_url" not in values and env.get("REDIS_URL"):
            values["redis_url"] = env["REDIS_URL"]
        values.update(overrides)
        return cls().replace(**values)


class Settings(TypedDict, total=False):
    """The keywords of `CacheConfig(...)`: every flat setting, and the sections themselves."""

    namespace: str
    prefix: str
    cache_version: int
    casefold: bool
    strip_fillers: bool
    strip_tokens: tuple[str, ...]
    strip_patterns: tuple[str, ...]
    ttl: float | None
    ttl_policy: Literal["fixed", "sliding"]
    max_entries: int
    max_bytes: int
    max_prompt_chars: int
    max_payload_bytes: int
    semantic: bool
    threshold: float | None
    candidates: int
    verifier: bool
    verifier_cutoff: float | None
    judge: bool
    judge_max_calls: int
    max_semantic_temperature: float | None
    semantic_max_chars: int | None
    history: Literal["exact", "relevant"]
    standalone: Callable[[Sequence[Mapping[str, Any]]], str | None] | None
    adaptive_threshold: bool
    target_precision: float
    threshold_min: float
    threshold_max: float
    threshold_step: float
    threshold_lower_margin: float
    feedback_window: int
    feedback_min_samples: int
    threshold_refresh_seconds: float
    max_wrong_rate: float | None
    audit_rate: float
    embedding_model: str | None
    preload: bool
    embedding_backend: Literal["auto", "onnx", "torch"]
    embedding_cache_size: int
    batch_window_ms: float
    exact_search_max: int
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_runtime: int
    vector_dtype: Literal["float32", "float16"]
    redis_url: str | None
    cluster: bool | None
    redis_timeout: float
    redis_connect_timeout: float
    near_cache_size: int
    migrate_index: bool
    shared_stats: bool
    breaker_failures: int
    breaker_cooldown: float
    lease_ms: int
    lease_wait: float
    prices: str | None
    metrics: bool
    keys: KeySettings
    storage: StorageSettings
    rules: HitRules
    feedback: FeedbackSettings
    embedding: EmbeddingSettings
    vectors: VectorSettings
    redis: RedisSettings
    resilience: ResilienceSettings
    observability: ObservabilitySettings


_SECTIONS: dict[str, type[Any]] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(CacheConfig)
}
FLAT: dict[str, tuple[str, str]] = {
    flat_name(f): (section, f.name)
    for section, kind in _SECTIONS.items()
    for f in dataclasses.fields(kind)
}
"""Each flat setting (keyword, `TIERED_CACHE_*` name) -> (its section, its name there)."""


def setting_fields() -> dict[str, dataclasses.Field[Any]]:
    """Every flat setting and the section field that holds it (type, default, metadata)."""
    return {flat_name(f): f for kind in _SECTIONS.values() for f in dataclasses.fields(kind)}


def _parse(name: str, type_text: str, raw: str) -> Any:
    try:
        if raw.strip().lower() in ("", "none", "null") and "None" in type_text:
            return None
        if type_text.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if type_text.startswith("int"):
            return int(raw)
        if type_text.startswith("float"):
            return float(raw)
        if type_text.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return raw
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}={raw!r}: {exc}") from exc


__all__ = [
    "DEFAULT_THRESHOLD",
    "CacheConfig",
    "EmbeddingSettings",
    "FeedbackSettings",
    "HitRules",
    "KeySettings",
    "ObservabilitySettings",
    "RedisSettings",
    "ResilienceSettings",
    "Settings",
    "StorageSettings",
    "VectorSettings",
]
