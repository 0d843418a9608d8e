"""The stats page of `tiered-cache serve` (`/`): one self-contained HTML document, charts drawn
as inline SVG on the server (no script, no network asset), refreshed every few seconds.

Hit rate by tier over time, latency by tier, tokens and money saved, the similarities of
semantic hits and near misses with the threshold drawn on them, and the latest near misses.
"""

from __future__ import annotations

import html
import itertools
import math
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


def _legend(tiers: Sequence[str], left: float = W - 190, labels: Sequence[str] = ()) -> str:
    out = ""
    for i, tier in enumerate(tiers):
        x = left + i * 90
        label = labels[i] if labels else tier
        out += (
            f'<rect x="{x}" y="6" width="10" height="10" fill="{COLORS[tier]}"/>'
            f'<text x="{x + 14}" y="15" font-size="11">{html.escape(label)}</text>'
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


def _count_ticks(top: int) -> list[int]:
    """Integer ticks from 0 to at least `top`: at most 6 of them, 1, 2 or 5 times a power of 10
    apart."""
    steps = (m * 10**e for e in range(12) for m in (1, 2, 5))
    step = next(s for s in steps if math.ceil(top / s) <= 5)
    return list(range(0, step * math.ceil(top / step) + 1, step))


def similarity_chart(sims: dict[str, Any], threshold: float) -> str:
    """A histogram: how many semantic lookups had their nearest stored question at each
    similarity, served (hits) or not (near misses), with the threshold in force at its value."""
    low, step = float(sims["low"]), float(sims["bin"])
    hits, near = list(sims["hits"]), list(sims["near_misses"])
    bins = len(hits)
    # The first bin also counts every lower similarity (nothing stored came close): said in
    # words, not drawn, or it would dwarf the bins near the threshold.
    below = (hits[0], near[0])
    hits[0] = near[0] = 0
    high = low + bins * step
    left, right, top_y, bottom = 50.0, W - 12.0, 26.0, H - 38.0  # the plot area
    ticks = _count_ticks(max([*hits, *near, 1]))
    y_max = ticks[-1]

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    def y_of(count: float) -> float:
        return bottom - count / y_max * (bottom - top_y)

    body = (
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top_y}" x2="{left}" y2="{bottom}" stroke="#999"/>'
    )
    for count in ticks:  # the count axis: integers
        y = y_of(count)
        body += (
            f'<line x1="{left - 4}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text class="y-tick" x="{left - 7}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="end">{count}</text>'
        )
    tenths = round((high - low) * 10)
    for i in range(tenths + 1):  # the similarity axis: every 0.1
        value = low + i / 10
        x = x_of(value)
        body += (
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#999"/>'
            f'<text class="x-tick" x="{x:.1f}" y="{bottom + 15}" font-size="10" '
            f'text-anchor="middle">{value:.1f}</text>'
        )
    body += (
        f'<text x="{(left + right) / 2:.1f}" y="{H - 4}" font-size="11" text-anchor="middle">'
        "similarity to the nearest stored question</text>"
        f'<text x="12" y="{(top_y + bottom) / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(top_y + bottom) / 2:.1f})">lookups</text>'
    )
    width = (right - left) / bins
    for i in range(bins):
        for kind, series, color, shift in (
            ("near", near, COLORS["near"], 0.0),
            ("hit", hits, COLORS["semantic"], 0.5),
        ):
            count = series[i]
            if count:
                y = y_of(count)
                x = left + (i + shift) * width
                body += (
                    f'<rect class="bar-{kind}" data-bin="{low + i * step:.2f}" '
                    f'data-count="{count}" x="{x + 0.5:.1f}" y="{y:.1f}" '
                    f'width="{width / 2 - 1:.1f}" height="{bottom - y:.1f}" fill="{color}">'
                    f"<title>{count} {'hits' if kind == 'hit' else 'near misses'} at "
                    f"{low + i * step:.2f}-{low + (i + 1) * step:.2f}</title></rect>"
                )
    x = x_of(min(max(threshold, low), high))
    body += (
        f'<line id="threshold" data-value="{threshold:.3f}" x1="{x:.1f}" y1="{top_y - 6}" '
        f'x2="{x:.1f}" y2="{bottom}" stroke="#000" stroke-dasharray="4 3"/>'
        f'<text x="{x + 3 if x < right - 100 else x - 3:.1f}" y="{top_y - 9}" font-size="11" '
        f'text-anchor="{"start" if x < right - 100 else "end"}">threshold {threshold:.3f}</text>'
    )
    if any(below):
        said = " and ".join(
            f"{n} {what}"
            for n, what in zip(below, ("semantic hits", "near misses"), strict=True)
            if n
        )
        body += (
            f'<text id="below" x="{left + 8}" y="{top_y + 10}" font-size="10" '
            f'fill="#555">+ {said} below {low + step:.2f} (not drawn)</text>'
        )
    if not any(hits) and not any(near) and not any(below):
        body += (
            f'<text x="{left + 10}" y="{(top_y + bottom) / 2:.1f}" font-size="12">'
            "no semantic lookups yet</text>"
        )
    return _svg(
        "similarity",
        body + _legend(("semantic", "near"), left=left + 8, labels=("semantic hit", "near miss")),
        "Similarity of semantic lookups: hits and near misses",
    )


def render(
    stats: dict[str, Any],
    sims: dict[str, Any],
    history: Sequence[dict[str, int]],
    title: str,
    scope: str = "",
    warning: str = "",
) -> str:
    """The whole page; `scope` says whose counters it shows, `warning` (HTML) what it cannot."""
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
    bound = stats.get("bound")
    if isinstance(bound, dict):  # max_wrong_rate: the proved bound, and what audits cost
        level = bound.get("bound")
        numbers.append(
            (
                "wrong answers (95% bound)",
                "not proved" if level is None else f"≤ {100 * level:.1f}%",
            )
        )
        numbers.append(
            ("audits / wrong", f"{bound.get('audited', 0):,} / {bound.get('wrong_found', 0):,}")
        )
        numbers.append(("audit tokens", f"{stats.get('audit_tokens', 0):,}"))
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
    note = sims.get("latest_note")
    near_note = html.escape(f" ({note})") if note else ""
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
#scope {{ color: #555; margin: -8px 0 12px; }}
.warning {{ background: #fff4d6; border: 1px solid #e0b84f; border-radius: 6px; padding: 8px 12px;
  max-width: 900px; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{f'<p id="scope">{html.escape(scope)}</p>' if scope else ""}
{f'<p id="warning" class="warning">{warning}</p>' if warning else ""}
<div class="cards">{cards}</div>
{f'<p id="bound">{html.escape(str(bound["text"]))}</p>' if isinstance(bound, dict) else ""}
<div class="charts">{hit_rate_chart(history)}{latency_chart(stats.get("latency", {}))}
{similarity_chart(sims, threshold)}</div>
<h2>Latest near misses{near_note}</h2>
<table id="near-misses">
<tr><th>asked</th><th>nearest stored</th><th>similarity</th><th>why</th></tr>
{rows or '<tr><td colspan="4">none yet</td></tr>'}</table>
</body></html>
"""
