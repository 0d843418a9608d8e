"""Shared benchmark plumbing: data, percentiles, a Redis Stack server, table and JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TIERED_CACHE_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"


def load_qqp() -> list[dict[str, Any]]:
    with open(DATA / "qqp_labeled_dev.jsonl") as f:
        return [json.loads(line) for line in f]


def load_paraphrases() -> list[dict[str, str]]:
    with open(DATA / "paraphrase_pairs_mock.json") as f:
        return list(json.load(f))


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return 1e3 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": 1e3 * statistics.fmean(ordered),
    }


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


@contextmanager
def redis_url(json: bool = False) -> Iterator[str]:
    """REDIS_URL when given, else a Redis Stack started for this run on a free loopback port
    (with RedisJSON too when `json`)."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    from tests.redis_server import RedisStackServer

    server = RedisStackServer(json=json).start()
    try:
        yield server.url
    finally:
        server.stop()


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print(f"\n{title}")
    print(" | ".join(c.ljust(widths[c]) for c in columns))
    print("-|-".join("-" * widths[c] for c in columns))
    for r in rows:
        print(" | ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
