"""Calibration, the tool: `tiered-cache calibrate` reads labelled pairs and plots the curve.

    tiered-cache calibrate pairs.jsonl [--target 0.95] [--plot curve.png] [--json]

The choice itself is `TieredCache.calibrate(...)` (public API), whose math lives in
`rules/calibration.py` beside the threshold it tunes: the facade may not import a tool, so this
module only adds what the command needs on top of the public API (reading a pairs file, the PNG).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..rules.calibration import CalibrationResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window
    import matplotlib.pyplot as plt

    return plt


def _value(x: float | None) -> float:
    return float("nan") if x is None else x


def plot(result: CalibrationResult, path: str | Path) -> bool:
    """Precision and hit rate against threshold as a PNG; False when matplotlib is missing."""
    try:
        plt = _pyplot()
    except ImportError:
        return False
    xs = [p.threshold for p in result.curve]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(xs, [p.precision for p in result.curve], "C0--", label="precision (cosine)")
    ax.plot(xs, [p.hit_rate for p in result.curve], "C1--", label="hit rate (cosine)")
    if result.verifier_cutoff is not None:
        verified_precision = [_value(p.verified_precision) for p in result.curve]
        verified_hit_rate = [_value(p.verified_hit_rate) for p in result.curve]
        ax.plot(xs, verified_precision, "C0-", label="precision (+ verifier)")
        ax.plot(xs, verified_hit_rate, "C1-", label="hit rate (+ verifier)")
    ax.axhline(result.target_precision, color="grey", lw=0.8, ls=":", label="target precision")
    ax.axvline(result.threshold, color="C2", lw=0.8, label=f"chosen {result.threshold:.3f}")
    ax.set_xlabel("similarity threshold")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{result.pairs} labelled pairs, verifier cut-off {result.verifier_cutoff}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def read_pairs(path: str | Path) -> list[tuple[str, str, bool]]:
    """{"a", "b", "duplicate"} per line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out.append((str(row["a"]), str(row["b"]), bool(row["duplicate"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: expected {{a, b, duplicate}}: {exc}") from exc
    return out
