"""Stats forwards every event to its sinks: Prometheus, OpenTelemetry (a span per lookup)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tiered_cache import TieredCache
from tiered_cache.observability import metrics
from tiered_cache.observability.stats import Stats

from .conftest import WordEmbedder


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.closed = False

    def incr(self, name: str, by: int) -> None:
        self.events.append(("incr", name, by))

    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None) -> None:
        self.events.append(("lookup", outcome, similarity))

    def observe_saving(self, tokens: int, usd: float) -> None:
        self.events.append(("saving", tokens, usd))

    def close(self) -> None:
        self.closed = True


def test_stats_forwards_each_event_once_to_every_sink() -> None:
    stats = Stats()
    first, second = Recorder(), Recorder()
    stats.add_sinks([first, second])
    stats.incr("stores")
    stats.observe_lookup("semantic", 0.001, 0.93)
    stats.observe_lookup("miss", 0.002)
    stats.observe_saving(120, 0.5)
    expected = [
        ("incr", "stores", 1),
        ("lookup", "semantic", 0.93),
        ("lookup", "miss", None),
        ("saving", 120, 0.5),
    ]
    assert first.events == expected and second.events == expected
    assert stats.snapshot()["usd_saved"] == 0.5
    stats.close()
    assert first.closed and second.closed
    stats.incr("stores")
    assert len(first.events) == 4  # detached after close


def test_no_exporter_installed_means_no_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "HAS_PROMETHEUS", False)
    monkeypatch.setattr(metrics, "HAS_OPENTELEMETRY", False)
    assert metrics.metric_sinks("ns") == []
    cache = TieredCache(semantic=False)
    assert cache._stats._sinks == ()


def test_metrics_can_be_turned_off() -> None:
    cache = TieredCache(semantic=False, metrics=False)
    assert cache._stats._sinks == ()


@pytest.mark.skipif(not metrics.HAS_PROMETHEUS, reason="prometheus-client is not installed")
def test_prometheus_counters_and_histograms_follow_lookups() -> None:
    from prometheus_client import REGISTRY

    ns = f"m-{uuid.uuid4().hex[:8]}"
    cache = TieredCache(
        namespace=ns,
        embedder=WordEmbedder(),
        verifier=False,
        adaptive_threshold=False,
        threshold=0.8,
        prices='{"acme": [1.0, 2.0]}',
    )
    req = cache.request("how do I reset my password", model="acme")
    assert cache.lookup(req) is None
    cache.store(req, "Use the link.", usage={"input_tokens": 1000, "output_tokens": 500})
    cache.lookup(req)
    cache.lookup(cache.request("how do I reset my password now", model="acme"))

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"namespace": ns, **labels})

    assert value("tiered_cache_hits_total", tier="exact") == 1.0
    assert value("tiered_cache_hits_total", tier="semantic") == 1.0
    assert value("tiered_cache_misses_total") == 1.0
    assert value("tiered_cache_stores_total") == 1.0
    assert value("tiered_cache_lookup_seconds_count", outcome="miss") == 1.0
    assert value("tiered_cache_semantic_similarity_count") == 1.0
    assert value("tiered_cache_tokens_saved_total") == 3000.0
    assert value("tiered_cache_usd_saved_total") == pytest.approx(2 * 0.002)


@pytest.mark.skipif(not metrics.HAS_OPENTELEMETRY, reason="opentelemetry-api is not installed")
def test_opentelemetry_span_per_lookup_and_counters() -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    exporter = in_memory.InMemorySpanExporter()
    tracer_provider = sdk_trace.TracerProvider()
    tracer_provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    sink = metrics.OpenTelemetrySink(
        "otel", tracer_provider=tracer_provider, meter_provider=meter_provider
    )

    stats = Stats()
    stats.add_sink(sink)
    stats.observe_lookup("semantic", 0.004, 0.95)
    stats.observe_lookup("miss", 0.002)
    stats.observe_saving(42, 0.01)

    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["tiered_cache.lookup", "tiered_cache.lookup"]
    assert spans[0].attributes["tiered_cache.outcome"] == "semantic"
    assert spans[0].attributes["tiered_cache.similarity"] == 0.95
    assert spans[0].end_time - spans[0].start_time == pytest.approx(4_000_000, rel=0.01)
    data = reader.get_metrics_data()
    names = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert {"tiered_cache.hits", "tiered_cache.misses", "tiered_cache.tokens_saved"} <= set(names)
    tokens = list(names["tiered_cache.tokens_saved"].data.data_points)
    assert tokens[0].value == 42


@pytest.mark.skipif(not metrics.HAS_PROMETHEUS, reason="prometheus-client is not installed")
def test_a_coalesced_request_is_a_hit_in_stats_prometheus_and_the_page() -> None:
    import threading

    from prometheus_client import REGISTRY
    from tiered_cache.observability.metrics import render_snapshot
    from tiered_cache.tools.page import render

    from ..flights import DEADLINE, Joins

    ns = f"c-{uuid.uuid4().hex[:8]}"
    cache = TieredCache(namespace=ns, semantic=False)
    joins = Joins(cache)
    req = cache.request("asked twice at once", model="m")
    assert cache.lookup(req, lead=True) is None  # this thread leads: a miss
    waited: list[Any] = []
    follower = threading.Thread(target=lambda: waited.append(cache.lookup(req, lead=True)))
    follower.start()
    joins.wait_for(2)  # the follower waits for this thread's answer
    cache.store(req, "the answer", usage={"total_tokens": 30})
    assert cache.land(req)
    follower.join(DEADLINE)
    hit = waited[0]
    assert (hit.payload, hit.tier, hit.coalesced) == ("the answer", "exact", True)

    stats = cache.stats()
    assert (stats["misses"], stats["coalesced_hits"], stats["exact_hits"]) == (1, 1, 0)
    assert (stats["lookups"], stats["hit_rate"], stats["tokens_saved"]) == (2, 0.5, 30)

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"namespace": ns, **labels})

    assert value("tiered_cache_hits_total", tier="coalesced") == 1.0
    assert value("tiered_cache_misses_total") == 1.0
    assert value("tiered_cache_lookup_seconds_count", outcome="coalesced") == 1.0
    text = render_snapshot(stats, ns, "tiered_cache")
    assert f'tiered_cache_hits_total{{namespace="{ns}",tier="coalesced"}} 1.0' in text
    page = render(stats, stats["similarities"], [], "t")
    assert '<div class="n">50.0%</div>hit rate' in page
    assert '<div class="n">1</div>coalesced' in page
