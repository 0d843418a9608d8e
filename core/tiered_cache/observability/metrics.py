"""Prometheus and OpenTelemetry export of the events `Stats` records.

Each exporter is a `StatsSink`. Whether `prometheus-client` or `opentelemetry-api` is installed is
checked once, at import; with neither, `metric_sinks()` is empty and costs nothing per lookup.
Instruments are process-wide (a Prometheus registry refuses duplicates), labelled by namespace.

Prometheus names: `tiered_cache_hits_total{namespace,tier}` (tier: exact, semantic, or
coalesced: answered by waiting for another caller's model call), `tiered_cache_misses_total`,
`tiered_cache_lookup_seconds{namespace,outcome}` (histogram), `tiered_cache_semantic_similarity`
(histogram), `tiered_cache_errors_total`, `tiered_cache_evictions_total`,
`tiered_cache_stores_total`, `tiered_cache_events_total{namespace,event}` (other counters),
`tiered_cache_tokens_saved_total`, `tiered_cache_usd_saved_total`. OpenTelemetry instruments
carry the same names with dots (`tiered_cache.hits`, ...); each lookup is a span
`tiered_cache.lookup`.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Mapping
from typing import Any

from .stats import StatsSink

HAS_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None
HAS_OPENTELEMETRY = importlib.util.find_spec("opentelemetry") is not None and (
    importlib.util.find_spec("opentelemetry.metrics") is not None
)
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
SIMILARITY_BUCKETS = (0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1.0)
_DEDICATED = {"errors", "evictions", "stores"}
_lock = threading.Lock()


class _PrometheusMetrics:
    """The process-wide Prometheus instruments (created once, on first use)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        ns = ["namespace"]
        self.hits = Counter("tiered_cache_hits", "Lookups served, per tier", [*ns, "tier"])
        self.misses = Counter("tiered_cache_misses", "Lookups not served", ns)
        self.latency = Histogram(
            "tiered_cache_lookup_seconds",
            "Lookup latency by outcome (exact, semantic, coalesced, miss)",
            [*ns, "outcome"],
            buckets=LATENCY_BUCKETS,
        )
        self.similarity = Histogram(
            "tiered_cache_semantic_similarity",
            "Cosine similarity of served semantic hits",
            ns,
            buckets=SIMILARITY_BUCKETS,
        )
        self.errors = Counter("tiered_cache_errors", "Backend failures served as misses", ns)
        self.evictions = Counter("tiered_cache_evictions", "Entries evicted by the LRU bound", ns)
        self.stores = Counter("tiered_cache_stores", "Entries written", ns)
        self.events = Counter("tiered_cache_events", "Other cache events", [*ns, "event"])
        self.tokens = Counter("tiered_cache_tokens_saved", "Tokens of served hits", ns)
        self.usd = Counter("tiered_cache_usd_saved", "Price of the tokens of served hits", ns)


class PrometheusSink:
    """Forwards events to the process-wide Prometheus instruments, labelled by namespace."""

    _metrics: _PrometheusMetrics | None = None

    def __init__(self, namespace: str) -> None:
        with _lock:
            if PrometheusSink._metrics is None:
                PrometheusSink._metrics = _PrometheusMetrics()
        m = PrometheusSink._metrics
        self._m = m
        self._hits = {t: m.hits.labels(namespace, t) for t in ("exact", "semantic", "coalesced")}
        self._misses = m.misses.labels(namespace)
        self._latency = {
            o: m.latency.labels(namespace, o) for o in ("exact", "semantic", "coalesced", "miss")
        }
        self._similarity = m.similarity.labels(namespace)
        self._counters = {
            "errors": m.errors.labels(namespace),
            "evictions": m.evictions.labels(namespace),
            "stores": m.stores.labels(namespace),
        }
        self._tokens = m.tokens.labels(namespace)
        self._usd = m.usd.labels(namespace)
        self._namespace = namespace

    def incr(self, name: str, by: int) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._m.events.labels(self._namespace, name)
        counter.inc(by)

    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None) -> None:
        if outcome == "miss":
            self._misses.inc()
        elif outcome in self._hits:
            self._hits[outcome].inc()
        latency = self._latency.get(outcome)
        if latency is not None:
            latency.observe(seconds)
        if similarity is not None:
            self._similarity.observe(similarity)

    def observe_saving(self, tokens: int, usd: float) -> None:
        if tokens:
            self._tokens.inc(tokens)
        if usd:
            self._usd.inc(usd)

    def close(self) -> None:
        pass


class _OTelInstruments:
    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        from opentelemetry import metrics, trace

        meter = metrics.get_meter("tiered_cache", meter_provider=meter_provider)
        self.tracer = trace.get_tracer("tiered_cache", tracer_provider=tracer_provider)
        self.hits = meter.create_counter("tiered_cache.hits", "{lookup}", "Lookups served")
        self.misses = meter.create_counter("tiered_cache.misses", "{lookup}", "Lookups not served")
        self.latency = meter.create_histogram(
            "tiered_cache.lookup.duration", "s", "Lookup latency by outcome"
        )
        self.similarity = meter.create_histogram(
            "tiered_cache.semantic.similarity", "1", "Similarity of served semantic hits"
        )
        self.events = meter.create_counter("tiered_cache.events", "{event}", "Cache events")
        self.tokens = meter.create_counter("tiered_cache.tokens_saved", "{token}", "Tokens saved")
        self.usd = meter.create_counter("tiered_cache.usd_saved", "USD", "Price of tokens saved")


class OpenTelemetrySink:
    """OpenTelemetry instruments plus one span per lookup (a no-op until an SDK is configured).

    The span is recorded when the lookup is, with its measured start time, inside the caller's
    current context, so it nests under the LLM call's span without a hook in the lookup path.
    """

    _instruments: _OTelInstruments | None = None

    def __init__(
        self, namespace: str, *, tracer_provider: Any = None, meter_provider: Any = None
    ) -> None:
        """Instruments of the global providers (shared by the process), or of the given ones."""
        if tracer_provider is not None or meter_provider is not None:
            self._i = _OTelInstruments(tracer_provider, meter_provider)
        else:
            with _lock:
                if OpenTelemetrySink._instruments is None:
                    OpenTelemetrySink._instruments = _OTelInstruments()
            self._i = OpenTelemetrySink._instruments
        self._attrs: Mapping[str, Any] = {"tiered_cache.namespace": namespace}

    def incr(self, name: str, by: int) -> None:
        self._i.events.add(by, {**self._attrs, "event": name})

    def observe_lookup(self, outcome: str, seconds: float, similarity: float | None) -> None:
        attrs = {**self._attrs, "tiered_cache.outcome": outcome}
        if outcome == "miss":
            self._i.misses.add(1, self._attrs)
        else:
            self._i.hits.add(1, {**self._attrs, "tiered_cache.tier": outcome})
        self._i.latency.record(seconds, attrs)
        if similarity is not None:
            self._i.similarity.record(similarity, self._attrs)
            attrs["tiered_cache.similarity"] = similarity
        end = time.time_ns()
        span = self._i.tracer.start_span(
            "tiered_cache.lookup", start_time=end - int(seconds * 1e9), attributes=attrs
        )
        span.end(end_time=end)

    def observe_saving(self, tokens: int, usd: float) -> None:
        if tokens:
            self._i.tokens.add(tokens, self._attrs)
        if usd:
            self._i.usd.add(usd, self._attrs)

    def close(self) -> None:
        pass


def metric_sinks(namespace: str) -> list[StatsSink]:
    """The exporters available in this environment (none: an empty list, zero cost)."""
    sinks: list[StatsSink] = []
    if HAS_PROMETHEUS:
        sinks.append(PrometheusSink(namespace))
    if HAS_OPENTELEMETRY:
        sinks.append(OpenTelemetrySink(namespace))
    return sinks


# -- Prometheus text without prometheus-client (for `/metrics` of the HTTP endpoint) -------------
def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_snapshot(snapshot: Mapping[str, Any], namespace: str, prefix: str) -> str:
    """A `Stats.snapshot()`-shaped dict as Prometheus text: `{prefix}_hits_total{tier}`, ..."""
    ns = f'namespace="{_label(namespace)}"'
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {prefix}_{name} {help_text}")
        lines.append(f"# TYPE {prefix}_{name} {kind}")
        suffix = "_total" if kind == "counter" else ""
        for labels, value in samples:
            lines.append(f"{prefix}_{name}{suffix}{{{ns}{labels}}} {float(value)!r}")

    def get(key: str) -> float:
        value = snapshot.get(key)
        return float(value) if isinstance(value, (int, float)) else 0.0

    metric(
        "hits",
        "counter",
        "Lookups served, per tier",
        [(f',tier="{t}"', get(f"{t}_hits")) for t in ("exact", "semantic", "coalesced")],
    )
    for key, help_text in (
        ("misses", "Lookups not served"),
        ("stores", "Entries written"),
        ("errors", "Backend failures served as misses"),
        ("evictions", "Entries evicted by the LRU bound"),
        ("tokens_saved", "Tokens of served hits"),
        ("usd_saved", "Price of the tokens of served hits"),
    ):
        metric(key, "counter", help_text, [("", get(key))])
    for key, help_text in (
        ("entries", "Entries stored now"),
        ("entry_hits", "Sum of the hit counts of the stored entries"),
    ):
        if key in snapshot:
            metric(key, "gauge", help_text, [("", get(key))])
    latency = snapshot.get("latency") or {}
    if latency:
        metric(
            "lookup_seconds_mean",
            "gauge",
            "Mean lookup latency by outcome",
            [(f',outcome="{o}"', v["mean_ms"] / 1e3) for o, v in sorted(latency.items())],
        )
    similarity = snapshot.get("semantic_similarity")
    if similarity:
        metric(
            "semantic_similarity_mean",
            "gauge",
            "Mean similarity of served semantic hits",
            [("", similarity["mean"])],
        )
    bound = snapshot.get("bound")
    if isinstance(bound, Mapping):  # max_wrong_rate
        for key, help_text in (
            ("audits", "Audits of semantic candidates (the model asked again or a miss compared)"),
            ("audits_wrong", "Audits whose answers differed"),
            ("audit_tokens", "Tokens of paid audits"),
        ):
            metric(key, "counter", help_text, [("", get(key))])
        if bound.get("bound") is not None:
            metric(
                "wrong_rate_bound",
                "gauge",
                "95% upper bound on the wrong-answer rate of served semantic hits",
                [("", float(bound["bound"]))],
            )
        metric(
            "wrong_rate_max",
            "gauge",
            "max_wrong_rate: the bound the cache keeps",
            [("", float(bound.get("max_wrong_rate") or 0.0))],
        )
    return "\n".join(lines) + "\n"


def render_process_metrics() -> bytes | None:
    """The process's Prometheus registry as text, or None without prometheus-client."""
    if not HAS_PROMETHEUS:
        return None
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY)


__all__ = [
    "HAS_OPENTELEMETRY",
    "HAS_PROMETHEUS",
    "OpenTelemetrySink",
    "PrometheusSink",
    "metric_sinks",
    "render_process_metrics",
    "render_snapshot",
]
