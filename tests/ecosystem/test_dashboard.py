"""The Grafana dashboard queries only metrics that a cache exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tiered_cache import TieredCache

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana.json"


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    prometheus = pytest.importorskip("prometheus_client")
    cache = TieredCache(semantic=False, namespace="dashboard-test", max_payload_bytes=200)
    req = cache.request("q", model="m")
    cache.store(req, "a", usage={"input_tokens": 3})
    assert not cache.store(cache.request("big", model="m"), "x" * 500)  # an "other" event
    cache.lookup(req)
    cache.lookup(cache.request("other", model="m"))
    exported = prometheus.generate_latest().decode()
    names = set(re.findall(r"^(tiered_cache_\w+?)(?:\{| )", exported, re.MULTILINE))
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"tiered_cache_\w+", target["expr"])
    }
    queried |= set(re.findall(r"tiered_cache_\w+", json.dumps(dashboard["templating"])))
    assert queried and queried <= names, sorted(queried - names)
