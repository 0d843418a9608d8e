"""CacheConfig is made of sections that validate themselves; the flat names still reach them."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from tiered_cache import CacheConfig, ConfigurationError
from tiered_cache.config import FLAT, Settings, setting_fields
from tiered_cache.config_sections import (
    EmbeddingSettings,
    FeedbackSettings,
    HitRules,
    KeySettings,
    ObservabilitySettings,
    RedisSettings,
    ResilienceSettings,
    StorageSettings,
    VectorSettings,
)

# The keywords and TIERED_CACHE_* names users write: they must never change.
FLAT_NAMES = [
    "namespace",
    "prefix",
    "cache_version",
    "ttl",
    "ttl_policy",
    "redis_url",
    "cluster",
    "max_entries",
    "max_bytes",
    "semantic",
    "threshold",
    "candidates",
    "verifier",
    "verifier_cutoff",
    "judge",
    "judge_max_calls",
    "adaptive_threshold",
    "target_precision",
    "threshold_min",
    "threshold_max",
    "threshold_step",
    "threshold_lower_margin",
    "feedback_window",
    "feedback_min_samples",
    "threshold_refresh_seconds",
    "max_wrong_rate",
    "audit_rate",
    "max_semantic_temperature",
    "semantic_max_chars",
    "history",
    "standalone",
    "embedding_model",
    "preload",
    "embedding_backend",
    "embedding_cache_size",
    "batch_window_ms",
    "casefold",
    "strip_fillers",
    "strip_tokens",
    "strip_patterns",
    "exact_search_max",
    "hnsw_m",
    "hnsw_ef_construction",
    "hnsw_ef_runtime",
    "vector_dtype",
    "redis_timeout",
    "redis_connect_timeout",
    "near_cache_size",
    "migrate_index",
    "breaker_failures",
    "breaker_cooldown",
    "lease_ms",
    "lease_wait",
    "max_prompt_chars",
    "max_payload_bytes",
    "prices",
    "metrics",
    "shared_stats",
]


@pytest.mark.parametrize(
    ("section", "kwargs", "message"),
    [
        (KeySettings, {"prefix": "a b"}, "prefix="),
        (KeySettings, {"cache_version": 0}, "cache_version=0"),
        (KeySettings, {"strip_patterns": ("(",)}, "invalid normalization regex '('"),
        (StorageSettings, {"ttl_policy": "lru"}, "ttl_policy='lru'"),
        (StorageSettings, {"max_payload_bytes": True}, "max_payload_bytes=True"),
        (HitRules, {"history": "all"}, "history='all'"),
        (HitRules, {"verifier_cutoff": 2.0}, "verifier_cutoff=2.0"),
        (HitRules, {"semantic_max_chars": 0}, "semantic_max_chars=0"),
        (HitRules, {"standalone": "rewrite"}, "standalone"),
        (FeedbackSettings, {"threshold_min": 0.9, "threshold_max": 0.8}, "threshold_min=0.9"),
        (FeedbackSettings, {"feedback_min_samples": 300}, "feedback_min_samples"),
        (FeedbackSettings, {"max_wrong_rate": 0.9}, "max_wrong_rate=0.9"),
        (FeedbackSettings, {"audit_rate": 0.0}, "audit_rate=0.0"),
        (EmbeddingSettings, {"embedding_backend": "tf"}, "embedding_backend='tf'"),
        (EmbeddingSettings, {"batch_window_ms": -1.0}, "batch_window_ms=-1.0"),
        (VectorSettings, {"hnsw_m": 0}, "hnsw_m=0"),
        (VectorSettings, {"vector_dtype": "int8"}, "vector_dtype='int8'"),
        (RedisSettings, {"url": "localhost:6379"}, "redis_url='localhost:6379'"),
        (RedisSettings, {"timeout": 0.0}, "redis_timeout=0.0"),
        (RedisSettings, {"connect_timeout": 61.0}, "redis_connect_timeout=61.0"),
        (RedisSettings, {"near_cache_size": -1}, "near_cache_size=-1"),
        (ResilienceSettings, {"breaker_cooldown": 0.0}, "breaker_cooldown=0.0"),
        (ResilienceSettings, {"lease_ms": 0}, "lease_ms=0"),
    ],
)
def test_each_section_validates_itself_naming_the_setting(
    section: type[Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        section(**kwargs)
    # The same value given flat is refused by the same section, with the same message.
    flat = {
        f.metadata.get("flat", f.name): kwargs[f.name]
        for f in dataclasses.fields(section)
        if f.name in kwargs
    }
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        CacheConfig(**flat)


def test_every_section_has_defaults_that_pass() -> None:
    for kind in (
        KeySettings,
        StorageSettings,
        HitRules,
        FeedbackSettings,
        EmbeddingSettings,
        VectorSettings,
        RedisSettings,
        ResilienceSettings,
        ObservabilitySettings,
    ):
        kind()


def test_flat_names_are_unchanged_and_typed_once() -> None:
    assert list(FLAT) == list(setting_fields())
    assert sorted(FLAT) == sorted(FLAT_NAMES)
    # `Settings` (the typed keywords) says what the sections say, type for type.
    sections = {f.name for f in dataclasses.fields(CacheConfig)}
    assert set(Settings.__annotations__) == set(FLAT) | sections
    for name, f in setting_fields().items():
        typed = Settings.__annotations__[name]
        assert getattr(typed, "__forward_arg__", typed) == f.type, name
        assert name in vars(CacheConfig), f"no flat read access for {name}"


def test_flat_keywords_reach_their_section() -> None:
    cfg = CacheConfig(
        namespace="app",
        ttl=30,
        threshold=0.8,
        audit_rate=0.2,
        embedding_model="m",
        hnsw_m=8,
        redis_url="redis://h:1",
        redis_connect_timeout=2.0,
        lease_wait=1.0,
        metrics=False,
    )
    assert cfg.keys.namespace == "app"
    assert cfg.storage.ttl == 30
    assert cfg.rules.threshold == 0.8
    assert cfg.feedback.audit_rate == 0.2
    assert cfg.embedding.embedding_model == "m"
    assert cfg.vectors.hnsw_m == 8
    assert (cfg.redis.url, cfg.redis.connect_timeout) == ("redis://h:1", 2.0)
    assert cfg.resilience.lease_wait == 1.0
    assert cfg.observability.metrics is False
    for name, (section, attr) in FLAT.items():
        assert getattr(cfg, name) == getattr(getattr(cfg, section), attr), name


def test_env_variables_reach_their_section() -> None:
    cfg = CacheConfig.from_env(
        {
            "TIERED_CACHE_PREFIX": "p",
            "TIERED_CACHE_MAX_BYTES": "1024",
            "TIERED_CACHE_HISTORY": "exact",
            "TIERED_CACHE_MAX_WRONG_RATE": "0.01",
            "TIERED_CACHE_PRELOAD": "off",
            "TIERED_CACHE_VECTOR_DTYPE": "float32",
            "TIERED_CACHE_REDIS_URL": "unix:///tmp/r.sock",
            "TIERED_CACHE_REDIS_CONNECT_TIMEOUT": "3",
            "TIERED_CACHE_CLUSTER": "none",
            "TIERED_CACHE_BREAKER_FAILURES": "2",
            "TIERED_CACHE_PRICES": '{"m": {"input": 1, "output": 2}}',
        }
    )
    assert cfg.keys.prefix == "p" and cfg.storage.max_bytes == 1024
    assert cfg.rules.history == "exact" and cfg.feedback.max_wrong_rate == 0.01
    assert cfg.embedding.preload is False and cfg.vectors.vector_dtype == "float32"
    assert cfg.redis == RedisSettings(url="unix:///tmp/r.sock", connect_timeout=3.0)
    assert cfg.resilience.breaker_failures == 2
    assert cfg.observability.prices == '{"m": {"input": 1, "output": 2}}'
    with pytest.raises(ConfigurationError, match="TIERED_CACHE_REDIS_TIMEOUT='slow'"):
        CacheConfig.from_env({"TIERED_CACHE_REDIS_TIMEOUT": "slow"})
    with pytest.raises(ConfigurationError, match=r"redis_timeout=0\.0"):
        CacheConfig.from_env({"TIERED_CACHE_REDIS_TIMEOUT": "0"})


def test_replace_changes_one_setting_and_keeps_the_rest() -> None:
    cfg = CacheConfig(threshold=0.8, ttl=30, redis_url="redis://h:1", hnsw_m=8)
    new = cfg.replace(ttl=5)
    assert new.ttl == 5 and cfg.ttl == 30
    assert new.storage == dataclasses.replace(cfg.storage, ttl=5)
    for f in dataclasses.fields(CacheConfig):
        if f.name != "storage":
            assert getattr(new, f.name) is getattr(cfg, f.name), f.name  # untouched sections
    assert new.replace(ttl=30) == cfg
    both = cfg.replace(redis=RedisSettings(url="redis://other:2"), redis_timeout=0.3)
    assert both.redis == RedisSettings(url="redis://other:2", timeout=0.3)
    with pytest.raises(ConfigurationError, match="unknown setting"):
        cfg.replace(url="redis://x:1")  # a section's own name is not a flat setting
    with pytest.raises(ConfigurationError, match="redis='redis://x:1': a RedisSettings"):
        cfg.replace(redis="redis://x:1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'tresh'"):
        CacheConfig(tresh=0.5)  # type: ignore[call-arg]


def test_equal_configs_are_equal_and_hash_alike() -> None:
    flat = CacheConfig(threshold=0.8, redis_url="redis://h:1", strip_tokens=("uuid",))
    sections = CacheConfig(
        rules=HitRules(threshold=0.8),
        redis=RedisSettings(url="redis://h:1"),
        keys=KeySettings(strip_tokens=("uuid",)),
    )
    assert flat == sections and hash(flat) == hash(sections)
    assert {flat: 1}[sections] == 1
    assert flat != flat.replace(threshold=0.81)
    assert CacheConfig() == CacheConfig() and hash(CacheConfig()) == hash(CacheConfig())
    assert repr(flat).startswith("CacheConfig(namespace='default', prefix='tc', ")
    assert "threshold=0.8," in repr(flat) and "redis_url='redis://h:1'" in repr(flat)


def test_the_config_is_frozen() -> None:
    cfg = CacheConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.ttl = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.storage = StorageSettings(ttl=5)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.storage.ttl = 5  # type: ignore[misc]
