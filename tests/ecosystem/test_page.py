"""The stats page (`/` of the server): self-contained, drawn on the server, and rendered by a real
headless browser (Debian's chromium) into a screenshot whose charts have their colours."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from tiered_cache import TieredCache
from tiered_cache.tools.page import similarity_chart
from tiered_cache.tools.server import start_server

from ..conftest import IN_CI
from ..unit.fake_embedder import MapEmbedder

STORED = ["What is the capital of France?", "How do I reset my password?"]


def served_page() -> str:
    emb = MapEmbedder()
    emb.pair(STORED[0], "What's the capital city of France?", 0.97)
    emb.pair(STORED[1], "How do I change my username?", 0.81)  # a near miss
    cache = TieredCache(embedder=emb, verifier=False, prices='{"m": {"input": 1, "output": 4}}')
    server = start_server(cache)
    try:
        for q in STORED:
            cache.store(cache.request(q, model="m"), f"answer: {q}", usage={"input_tokens": 50})
        for asked in (
            [STORED[0]],
            ["What's the capital city of France?"],
            [STORED[1], "How do I change my username?"],
        ):
            for q in asked:
                cache.lookup(cache.request(q, model="m"))
            urllib.request.urlopen(f"{server.url}/").read()  # one sample per "refresh"
        with urllib.request.urlopen(f"{server.url}/") as response:
            assert response.headers["Content-Type"].startswith("text/html")
            return str(response.read().decode())
    finally:
        server.shutdown()
        cache.close()


def test_the_page_is_self_contained_and_shows_the_numbers() -> None:
    page = served_page()
    for chart in ('id="hit-rate"', 'id="latency"', 'id="similarity"', 'id="threshold"'):
        assert chart in page
    assert "<script" not in page and "src=" not in page and "<link" not in page  # no assets
    assert 'class="exact"' in page and 'class="semantic"' in page  # both tiers drawn
    assert "How do I change my username?" in page and "below the threshold" in page
    assert "$0.0001" in page  # two hits x 50 input tokens at $1 per 1M
    assert '<meta http-equiv="refresh"' in page
    assert "The embedded cache of this process." in page and 'id="warning"' not in page


def bars(page: str, kind: str) -> dict[str, int]:
    """The histogram's bars of one kind: {bin's lower edge: count}."""
    found = re.findall(rf'class="bar-{kind}" data-bin="([0-9.]+)" data-count="(\d+)"', page)
    return {edge: int(count) for edge, count in found}


def test_the_similarity_chart_is_a_histogram() -> None:
    page = served_page()
    chart = page[
        page.index('id="similarity"') : page.index("</svg>", page.index('id="similarity"'))
    ]
    assert bars(chart, "hit") == {"0.96": 1}  # the paraphrase, served at 0.97
    assert bars(chart, "near") == {"0.80": 1}  # the near miss at 0.81, under the threshold
    # A count axis of integers, a similarity axis every 0.1, both labelled.
    assert re.findall(r'class="y-tick"[^>]*>(\d+)<', chart) == ["0", "1"]
    ticks = re.findall(r'class="x-tick"[^>]*>([0-9.]+)<', chart)
    assert ticks == ["0.5", "0.6", "0.7", "0.8", "0.9", "1.0"]
    assert "similarity to the nearest stored question" in chart and ">lookups<" in chart
    # The threshold in force (0.90 without a verifier) drawn where 0.9 is on the axis.
    assert 'id="threshold" data-value="0.900"' in chart and "threshold 0.900" in chart
    x_of = {
        label: float(x)
        for x, label in re.findall(r'class="x-tick" x="([0-9.]+)"[^>]*>([0-9.]+)<', chart)
    }
    line_x = float(re.search(r'id="threshold"[^>]* x1="([0-9.]+)"', chart).group(1))  # type: ignore[union-attr]
    assert line_x == pytest.approx(x_of["0.9"], abs=0.2)
    # Bars stand at their bin: the 0.96-0.98 bar between the 0.9 and 1.0 ticks, 60% of the way.
    hit_x = float(re.search(r'class="bar-hit"[^>]* x="([0-9.]+)"', chart).group(1))  # type: ignore[union-attr]
    assert x_of["0.9"] + 0.55 * (x_of["1.0"] - x_of["0.9"]) < hit_x < x_of["1.0"]


def test_counts_below_the_axis_are_said_not_drawn() -> None:
    sims = {
        "low": 0.5,
        "bin": 0.02,
        "hits": [0] * 24 + [3],
        "near_misses": [58] + [0] * 23 + [2],
        "latest_near_misses": [],
    }
    chart = similarity_chart(sims, 0.845)
    assert "+ 58 near misses below 0.52 (not drawn)" in chart
    assert bars(chart, "near") == {"0.98": 2} and bars(chart, "hit") == {"0.98": 3}
    assert re.findall(r'class="y-tick"[^>]*>(\d+)<', chart) == ["0", "1", "2", "3"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_real_browser_draws_the_charts(tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is not installed (.ci/install installs it)")
        pytest.skip("chromium is not installed")
    import matplotlib.image

    html = tmp_path / "page.html"
    html.write_text(served_page())
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1240,1000", f"--screenshot={shot}", html.as_uri()],
        capture_output=True, timeout=120, check=True, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    pixels = (matplotlib.image.imread(shot)[:, :, :3] * 255).round()
    assert pixels.shape[:2] == (1000, 1240)

    def count(rgb: tuple[int, int, int]) -> int:
        return int((abs(pixels - rgb).sum(axis=2) < 30).sum())

    assert count((0x2B, 0x7B, 0xB9)) > 200  # exact (line and bar)
    assert count((0x2C, 0xA0, 0x2C)) > 200  # semantic
    assert count((0xFF, 0x7F, 0x0E)) > 100  # near misses


def test_the_bound_is_shown_on_the_page_in_metrics_and_in_the_cli() -> None:
    """max_wrong_rate on: the page, the Prometheus text and `tiered-cache stats` say the bound
    and what the audits found; off, none of them mentions it."""
    from tiered_cache.observability.metrics import render_snapshot
    from tiered_cache.rules import bound as qb
    from tiered_cache.tools.cli import _bound_text
    from tiered_cache.tools.page import render

    cache = TieredCache(embedder=MapEmbedder(), verifier=False, max_wrong_rate=0.05)
    try:
        state = qb.BoundState(level=0, audits=[(6, 0)] * 70 + [(6, 1)], audited=71)
        state.wrong = 1
        cache.aux.set(qb.state_key(qb.GLOBAL), state.to_json())
        stats = cache.stats()
        bound = stats["bound"]
        assert bound["wrong_found"] == 1 and bound["bound"] is not None
        percent = f"{100 * bound['bound']:.1f}%"
        page = render(stats, stats["similarities"], [], "t")
        assert f"≤ {percent}" in page and 'id="bound"' in page and "71 audits" in page
        text = render_snapshot(stats, "ns", "tiered_cache")
        assert f'tiered_cache_wrong_rate_bound{{namespace="ns"}} {bound["bound"]!r}' in text
        assert 'tiered_cache_wrong_rate_max{namespace="ns"} 0.05' in text
        lines = _bound_text(stats)
        assert lines[0].startswith(f"  wrong answers  wrong answers <= {percent} with 95%")
        assert "max_wrong_rate 0.05" in lines[0]
    finally:
        cache.close()
    plain = TieredCache(semantic=False)
    try:
        stats = plain.stats()
        assert "bound" not in stats and _bound_text(stats) == []
        assert "wrong_rate" not in render_snapshot(stats, "ns", "tiered_cache")
        assert 'id="bound"' not in render(stats, stats["similarities"], [], "t")
    finally:
        plain.close()
