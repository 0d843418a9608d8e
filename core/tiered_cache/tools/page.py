"""The stats page of `tiered-cache serve` (`/`): one self-contained HTML document, charts drawn
as inline SVG on the server (no script, no network asset), refreshed every few seconds.

Hit rate by tier over time, latency by tier, tokens and money saved, the similarities of
semantic hits and near misses with the threshold drawn on them, and the latest near misses.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from typing import Any

REFRESH_SECONDS = 5
W, H = 560, 200  # chart size
COLORS = {"exact": "#2b7bb9", "semantic": "#2ca02c", "miss": "#d62728", "near": "#ff7f0e"}


def _svg(chart_id: str, body: str, title: str) -> str:
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img"><rect width="{W}" height="{H}" fill="#fafafa"/>'
        f"{body}</svg></figure>"
    )


def _axis(label_low: str, label_high: str) -> str:
    return (
        f'<line x1="40" y1="{H - 25}" x2="{W - 10}" y2="{H - 25}" stroke="#999"/>'
        f'<line x1="40" y1="10" x2="40" y2="{H - 25}" stroke="#999"/>'
        f'<text x="4" y="{H - 25}" font-size="10">{label_low}</text>'
        f'<text x="4" y="16" font-size="10">{label_high}</text>'
    )


def hit_rate_chart(history: Sequence[dict[str, int]]) -> str:
    """Share of lookups answered by each tier, per interval between samples."""
    rates: list[tuple[float, float]] = []
    for before, after in itertools.pairwise(history):
        delta = {
            k: after.get(k, 0) - before.get(k, 0)
            for k in ("exact", "semantic", "coalesced", "miss")
        }
        total = sum(delta.values())
        if total > 0:
            rates.append((delta["exact"] / total, delta["semantic"] / total))
    body = _axis("0%", "100%")
    if not rates:
        body += f'<text x="60" y="{H // 2}" font-size="12">waiting for lookups</text>'
    span = (W - 60) / max(1, len(rates) - 1)
    for tier, index in (("exact", 0), ("semantic", 1)):
        points = " ".join(
            f"{40 + i * span:.1f},{10 + (1 - r[index]) * (H - 35):.1f}" for i, r in enumerate(rates)
        )
        if len(rates) == 1:  # one interval: a dot
            x, y = points.split(",")
            body += f'<circle class="{tier}" cx="{x}" cy="{y}" r="4" fill="{COLORS[tier]}"/>'
        elif rates:
            body += (
                f'<polyline class="{tier}" points="{points}" fill="none" '
                f'stroke="{COLORS[tier]}" stroke-width="2"/>'
            )
    return _svg("hit-rate", body + _legend(("exact", "semantic")), "Hit rate by tier over time")


def _legend(tiers: Sequence[str]) -> str:
    out = ""
    for i, tier in enumerate(tiers):
        x = W - 150 + i * 70
        out += (
            f'<rect x="{x}" y="6" width="10" height="10" fill="{COLORS[tier]}"/>'
            f'<text x="{x + 14}" y="15" font-size="11">{tier.replace("near", "near miss")}</text>'
        )
    return out


def latency_chart(latency: dict[str, dict[str, float]]) -> str:
    """Mean lookup latency by outcome (ms), as bars."""
    tiers = [t for t in ("exact", "semantic", "miss") if t in latency]
    top = max((latency[t]["mean_ms"] for t in tiers), default=1.0) or 1.0
    body = _axis("0", f"{top:.2f} ms")
    width = (W - 80) / max(1, len(tiers))
    for i, tier in enumerate(tiers):
        mean = latency[tier]["mean_ms"]
        height = (H - 40) * mean / top
        x = 50 + i * width
        body += (
            f'<rect class="{tier}" x="{x:.1f}" y="{H - 25 - height:.1f}" width="{width * 0.6:.1f}" '
            f'height="{height:.1f}" fill="{COLORS[tier]}"/>'
            f'<text x="{x:.1f}" y="{H - 10}" font-size="11">{tier} {mean:.2f} ms</text>'
        )
    if not tiers:
        body += f'<text x="60" y="{H // 2}" font-size="12">no lookups yet</text>'
    return _svg("latency", body, "Mean lookup latency by tier")


def similarity_chart(sims: dict[str, Any], threshold: float) -> str:
    """Histogram of the similarities of semantic hits and of near misses, with the threshold."""
    low, step = float(sims["low"]), float(sims["bin"])
    hits, near = sims["hits"], sims["near_misses"]
    bins = len(hits)
    top = max([*hits, *near, 1])
    body = _axis(f"{low:.2f}", f"{top}")
    width = (W - 60) / bins
    for i in range(bins):
        for series, color, shift in ((near, COLORS["near"], 0.0), (hits, COLORS["semantic"], 0.5)):
            if series[i]:
                height = (H - 40) * series[i] / top
                body += (
                    f'<rect x="{45 + (i + shift) * width:.1f}" y="{H - 25 - height:.1f}" '
                    f'width="{width / 2:.1f}" height="{height:.1f}" fill="{color}"/>'
                )
    x = 45 + (threshold - low) / step * width
    body += (
        f'<line id="threshold" x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{H - 25}" '
        f'stroke="#000" stroke-dasharray="4 3"/>'
        f'<text x="{x + 3:.1f}" y="{H - 30}" font-size="11">threshold {threshold:.2f}</text>'
        f'<text x="{W - 40}" y="{H - 10}" font-size="10">1.00</text>'
    )
    return _svg(
        "similarity", body + _legend(("semantic", "near")), "Similarity: hits and near misses"
    )


def render(
    stats: dict[str, Any], sims: dict[str, Any], history: Sequence[dict[str, int]], title: str
) -> str:
    """The whole page."""
    cfg = stats.get("config", {})
    threshold = float(cfg.get("threshold") or 0.9)
    numbers = [
        ("lookups", f"{stats.get('lookups', 0):,}"),
        ("hit rate", f"{100 * stats.get('hit_rate', 0.0):.1f}%"),
        (
            "exact / semantic hits",
            f"{stats.get('exact_hits', 0):,} / {stats.get('semantic_hits', 0):,}",
        ),
        ("coalesced", f"{stats.get('coalesced_hits', 0):,}"),
        ("tokens saved", f"{stats.get('tokens_saved', 0):,}"),
        ("money saved", f"${stats.get('usd_saved', 0.0):.4f}"),
        ("errors", f"{stats.get('errors', 0):,}"),
    ]
    cards = "".join(
        f'<div class="card"><div class="n">{html.escape(v)}</div>{html.escape(k)}</div>'
        for k, v in numbers
    )
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{:.3f}</td><td>{}</td></tr>".format(
            html.escape(str(m["query"])[:90]),
            html.escape(str(m["nearest"] or "")[:90]),
            m["similarity"],
            html.escape(m["why"]),
        )
        for m in reversed(sims["latest_near_misses"])
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; }}
.cards {{ display: flex; gap: 12px; flex-wrap: wrap; }}
.card {{ background: #f0f4f8; border-radius: 6px; padding: 10px 14px; min-width: 120px; }}
.n {{ font-size: 22px; font-weight: 600; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 16px; margin-top: 16px; }}
figure {{ margin: 0; }} figcaption {{ font-weight: 600; margin-bottom: 4px; }}
table {{ border-collapse: collapse; margin-top: 16px; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="cards">{cards}</div>
<div class="charts">{hit_rate_chart(history)}{latency_chart(stats.get("latency", {}))}
{similarity_chart(sims, threshold)}</div>
<h2>Latest near misses</h2>
<table id="near-misses">
<tr><th>asked</th><th>nearest stored</th><th>similarity</th><th>why</th></tr>
{rows or '<tr><td colspan="4">none yet</td></tr>'}</table>
</body></html>
"""
