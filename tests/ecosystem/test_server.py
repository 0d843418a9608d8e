"""The HTTP endpoint, scraped with a real HTTP client on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from tiered_cache import TieredCache
from tiered_cache.observability import metrics
from tiered_cache.tools.server import StatsServer, start_server


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[TieredCache, StatsServer]]:
    cache = TieredCache(namespace=f"http-{uuid.uuid4().hex[:8]}", semantic=False)
    server = start_server(cache, "127.0.0.1", 0)
    yield cache, server
    server.shutdown()
    server.server_close()
    cache.close()


def test_metrics_appear_on_a_scrape_after_lookups(
    served: tuple[TieredCache, StatsServer],
) -> None:
    cache, server = served
    ns = cache.config.namespace
    req = cache.request("What is the capital of France?", model="gpt-4o-mini")
    assert cache.lookup(req) is None
    cache.store(req, "Paris.", usage={"input_tokens": 2_000, "output_tokens": 1_000})
    assert cache.lookup(req).payload == "Paris."  # type: ignore[union-attr]
    assert cache.lookup(req).payload == "Paris."  # type: ignore[union-attr]

    status, content_type, text = get(f"{server.url}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    if metrics.HAS_PROMETHEUS:
        assert f'tiered_cache_hits_total{{namespace="{ns}",tier="exact"}} 2.0' in text
        assert f'tiered_cache_misses_total{{namespace="{ns}"}} 1.0' in text
        assert f'tiered_cache_lookup_seconds_count{{namespace="{ns}",outcome="exact"}} 2.0' in text
        assert f'tiered_cache_tokens_saved_total{{namespace="{ns}"}} 6000.0' in text
        usd_line = f'tiered_cache_usd_saved_total{{namespace="{ns}"}} '
        usd = next(float(x[len(usd_line) :]) for x in text.splitlines() if x.startswith(usd_line))
        assert usd == pytest.approx(2 * (2_000 * 0.15 + 1_000 * 0.60) / 1e6)  # gpt-4o-mini
    else:  # the cache's own counters, rendered without prometheus-client
        assert f'tiered_cache_hits_total{{namespace="{ns}",tier="exact"}} 2.0' in text


def test_metrics_without_prometheus_client_are_rendered_from_stats(
    served: tuple[TieredCache, StatsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, server = served
    monkeypatch.setattr(metrics, "HAS_PROMETHEUS", False)
    req = cache.request("q", model="m")
    cache.store(req, "a")
    cache.lookup(req)
    _, _, text = get(f"{server.url}/metrics")
    ns = cache.config.namespace
    assert "# TYPE tiered_cache_hits counter" in text
    assert f'tiered_cache_hits_total{{namespace="{ns}",tier="exact"}} 1.0' in text
    assert f'tiered_cache_stores_total{{namespace="{ns}"}} 1.0' in text


def test_health_stats_and_unknown_paths(served: tuple[TieredCache, StatsServer]) -> None:
    cache, server = served
    req = cache.request("q", model="m")
    cache.store(req, "a")
    cache.lookup(req)
    status, content_type, body = get(f"{server.url}/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, content_type, body = get(f"{server.url}/stats")
    data = json.loads(body)
    assert status == 200 and content_type == "application/json"
    assert data["process"]["exact_hits"] == 1 and data["shared"] is None
    status, _, body = get(f"{server.url}/nope")
    assert status == 404 and "/metrics" in body


def test_binds_loopback_by_default() -> None:
    cache = TieredCache(semantic=False)
    server = start_server(cache)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
