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
        ("redis_url", "localhost:6379", "redis_url"),
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


def test_sections_group_the_flat_settings() -> None:
    from tiered_cache.config import RedisSettings, VectorSettings

    assert CacheConfig().redis == RedisSettings()  # embedded: no url
    assert CacheConfig().redis.url is None
    cfg = CacheConfig.from_env(
        {"TIERED_CACHE_REDIS_URL": "redis://h:1", "TIERED_CACHE_REDIS_TIMEOUT": "0.5"},
        hnsw_m=32,
        namespace="app",
    )
    assert cfg.redis == RedisSettings(
        url="redis://h:1",
        cluster=None,
        timeout=0.5,
        connect_timeout=1.0,
        near_cache_size=10_000,
        migrate_index=False,
        shared_stats=True,
    )
    assert (cfg.keys.namespace, cfg.keys.prefix, cfg.keys.cache_version) == ("app", "tc", 1)
    assert cfg.vectors == VectorSettings(
        exact_search_max=2_000,
        hnsw_m=32,
        hnsw_ef_construction=200,
        hnsw_ef_runtime=64,
        vector_dtype="float16",
    )
    assert cfg.replace(redis_timeout=0.2).redis.timeout == 0.2


def test_the_url_scheme_picks_the_backend_from_the_registry() -> None:
    from tiered_cache import Backends, MemoryAux, MemoryKV, TieredCache
    from tiered_cache.backends import factory

    with pytest.raises(ConfigurationError, match=r"no backend for memcached:// URLs \(known:"):
        TieredCache(redis_url="memcached://127.0.0.1:11211", semantic=False)
    with pytest.raises(ConfigurationError, match="a URL such as redis://"):
        CacheConfig(redis_url="127.0.0.1:6379")
    built: list[str | None] = []

    def memory(cfg: CacheConfig, dim: int | None) -> Backends:
        built.append(cfg.redis_url)
        store = MemoryKV()
        return Backends(entries=store, aux=MemoryAux(), leases=store, kind="test")

    factory.register_backend(("test-only",), memory)
    try:
        cache = TieredCache(redis_url="test-only://x", semantic=False)
        req = cache.request("What is the speed of light?", model="m")
        assert cache.store(req, "299,792 km/s.")
        hit = cache.lookup(req)
        assert hit is not None and hit.payload == "299,792 km/s."
        assert built == ["test-only://x"] and cache.stats()["config"]["backend"] == "test"
    finally:
        del factory._BUILDERS["test-only"]
