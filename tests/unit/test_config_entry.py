from __future__ import annotations

import pytest
from tiered_cache import CacheConfig, CacheEntry, ConfigurationError
from tiered_cache.entry import CorruptEntryError


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("namespace", "has space", "namespace"),
        ("namespace", "a:b", "namespace"),
        ("threshold", 1.5, "threshold"),
        ("ttl", -1, "ttl"),
        ("max_entries", 0, "max_entries"),
        ("strip_tokens", ("phone",), "strip_tokens"),
        ("redis_url", "http://x", "redis_url"),
        ("vector_dtype", "int8", "vector_dtype"),
    ],
)
def test_invalid_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CacheConfig(**{field: value})  # type: ignore[arg-type]


def test_unknown_setting() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting"):
        CacheConfig().replace(tresh=0.5)


def test_from_env() -> None:
    cfg = CacheConfig.from_env(
        {
            "TIERED_CACHE_NAMESPACE": "app",
            "TIERED_CACHE_THRESHOLD": "0.93",
            "TIERED_CACHE_SEMANTIC": "false",
            "TIERED_CACHE_TTL": "60",
            "TIERED_CACHE_STRIP_TOKENS": "uuid,date",
        },
        max_entries=5,
    )
    assert (cfg.namespace, cfg.threshold, cfg.semantic, cfg.ttl) == ("app", 0.93, False, 60.0)
    assert cfg.strip_tokens == ("uuid", "date")
    assert cfg.max_entries == 5
    with pytest.raises(ConfigurationError, match="TIERED_CACHE_THRESHOLD"):
        CacheConfig.from_env({"TIERED_CACHE_THRESHOLD": "high"})


def test_entry_round_trip_and_corruption() -> None:
    entry = CacheEntry("payload ✓", "q", {"total_tokens": 7}, created_at=5.0, ttl=3.0)
    back = CacheEntry.from_json(entry.to_json(), hit_count=2)
    assert back == CacheEntry("payload ✓", "q", {"total_tokens": 7}, 5.0, 3.0, hit_count=2)
    for raw in (b"\x80\x04pickle", b'{"schema": 99, "payload": "x"}', entry.to_json()[:-3], b"[]"):
        with pytest.raises(CorruptEntryError):
            CacheEntry.from_json(raw)
