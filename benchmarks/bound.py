"""Wrong answers, bounded: does `max_wrong_rate` hold on traffic, and what does it cost in hits?

    python -m benchmarks.bound                       # report halves, 20 seeds x 3 bounds
    python -m benchmarks.bound --half fit            # the half the controller may be tuned on

A simulation of the cache's own controller (`tiered_cache.rules.bound`) on labelled pairs:
each request is the second question of a pair drawn at random (with replacement) from the pool,
its stored neighbour the first one (an entry of its own). A fake model answers duplicates alike
and non-duplicates differently, so a served non-duplicate is a wrong answer. A candidate is
served when the level in force serves it (the engine's decision: the near-repeat rule, the
similarity threshold and the verifier's probability with the judge, precomputed once per pair by
`benchmarks.defaults.scored` and kept in --scores-cache) and its entry was not tightened. A
share of candidate requests (`audit_rate`, adaptive under --audit-cap) is audited: served ones
cost a model call, missed ones are free (the model was called anyway). The comparator misses a
wrong answer with --miss-rate and flags a right one with --false-alarm-rate.

Pools: Quora dev pairs with no question in the training file (`half`), and the contrast dev set
(`split`: report unless --half fit). Per δ and seed: the realized wrong-answer rate of served
semantic hits after --warmup requests, the hit rate, the paid audits; and the hindsight-best
static setting (threshold x cut-off grid, on the same requests after warm-up) whose realized
error is at most the controller's: its hit rate. The grid (0.80-0.95 x 0.60-0.99) reaches down
to the ladder's loosest setting where that lies lower (0.77 / 0.51 at the shipped settings), so
no setting the controller may use is missing from it. Writes benchmarks/results/bound.json (with the
curves: level, bound, realized error and hit rate every --every requests).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tiered_cache import CacheConfig
from tiered_cache.rules import bound as qb
from tiered_cache.rules.verifier import VerifierWeights

from ._common import print_table, write_json

DELTAS = (0.01, 0.02, 0.05)


def grid(ladder: qb.Ladder) -> tuple[list[float], list[float]]:
    """Thresholds from 0.80 (or the ladder's lowest) to 0.95 by 0.005, cut-offs from 0.60 (or
    the ladder's lowest) to 0.99 by 0.01."""
    t_low, c_low = ladder.setting(qb.MIN_LEVEL)
    t0 = min(0.80, math.floor(round(t_low / 0.005, 6)) * 0.005)
    c0 = min(0.60, math.floor(round((0.60 if c_low is None else c_low) * 100, 6)) / 100)
    ts = [round(t0 + 0.005 * i, 3) for i in range(round((0.95 - t0) / 0.005) + 1)]
    cs = [round(c0 + 0.01 * i, 2) for i in range(round((0.99 - c0) / 0.01) + 1)]
    return ts, cs


def load_scores(
    path: str, half: str, max_pairs: int = 0
) -> dict[str, dict[str, np.ndarray[Any, Any]]]:
    """cos, prob, near, dup per pool: computed once with the real models, then read back."""
    cache_path = Path(path.replace(".npz", f"_{half}.npz"))
    if cache_path.exists():
        saved = np.load(cache_path, allow_pickle=False)
        pools: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
        for name in str(saved["pools"]).split(","):
            pools[name] = {k: saved[f"{name}.{k}"] for k in ("cos", "prob", "near", "dup")}
        return pools
    from tiered_cache import CacheConfig, TieredCache
    from tiered_cache.rules.verifier import Verifier

    from .contrast import load_contrast, qqp_without_train_overlap
    from .defaults import scored

    embedder = _Memo(path)
    cache = TieredCache(CacheConfig(preload=False), embedder=embedder)
    verifier = Verifier()
    contrast = [
        {"a": r["a"], "b": r["b"], "duplicate": r["should_hit"]}
        for r in load_contrast("report" if half == "report" else "build")
    ]
    quora = qqp_without_train_overlap(half)
    if max_pairs and len(quora) > max_pairs:  # a seeded subset: the judge costs ~10-50 ms a pair
        keep = np.random.default_rng(0).choice(len(quora), max_pairs, replace=False)
        quora = [quora[int(k)] for k in sorted(keep)]
    pools = {
        "quora": scored(cache, verifier, embedder, quora),
        "contrast": scored(cache, verifier, embedder, contrast),
    }
    cache.close()
    arrays = {f"{n}.{k}": v for n, p in pools.items() for k, v in p.items()}
    np.savez(cache_path, pools=np.array(",".join(pools)), **arrays)  # type: ignore[arg-type]
    return pools


class _Memo:
    """all-MiniLM-L6-v2 vectors read from an .npz of `benchmarks.quality.MemoEmbedder` (no
    PyTorch); texts it lacks are encoded by the packaged ONNX model (the same vectors)."""

    model_id = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, path: str) -> None:
        self.memo: dict[str, Any] = {}
        if Path(path).exists():
            saved = np.load(path, allow_pickle=False)
            self.memo = dict(zip(saved["texts"].tolist(), saved["vectors"], strict=True))
        self._onnx: Any = None

    def encode(self, texts: list[str]) -> Any:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            if self._onnx is None:
                from tiered_cache.embeddings.onnx import make_embedder

                self._onnx = make_embedder(None, "onnx")
            for text, vec in zip(missing, self._onnx.encode(missing), strict=True):
                self.memo[text] = vec
        return np.stack([self.memo[t] for t in texts])


def simulate(
    pool: dict[str, np.ndarray[Any, Any]],
    ladder: qb.Ladder,
    delta: float,
    seed: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cos, prob, near, dup = pool["cos"], pool["prob"], pool["near"], pool["dup"]
    tops = [
        ladder.top(float(c), float(p), bool(n)) for c, p, n in zip(cos, prob, near, strict=True)
    ]
    draws = rng.integers(0, len(cos), args.requests)
    coins = rng.random((args.requests, 2))
    state = qb.BoundState()
    served_after = wrong_after = requests_after = paid = free = 0
    served_mask = np.zeros(args.requests, dtype=bool)
    curve: list[dict[str, Any]] = []
    for step, i in enumerate(draws):
        i = int(i)
        top = tops[i]
        level = state.level
        floor = state.entries.get(str(i))
        served = top >= level and level < qb.OFF and (floor is None or cos[i] >= floor)
        after = step >= args.warmup
        if after:
            requests_after += 1
            if served:
                served_after += 1
                wrong_after += int(not dup[i])
                served_mask[step] = True
        if top > qb.NEVER and coins[step, 0] < qb.audit_rate(state, delta, args.audit_cap):
            wrong = not dup[i]
            flip = args.miss_rate if wrong else args.false_alarm_rate
            seen_wrong = (not wrong) if coins[step, 1] < flip else wrong
            audit = qb.Audit(
                float(cos[i]), float(prob[i]), bool(near[i]), seen_wrong, str(i), served
            )
            qb.observe(state, audit, ladder, delta)
            paid += int(served)
            free += int(not served)
        if (step + 1) % args.every == 0:
            ub = state.bound(state.level)[0] if state.level < qb.OFF else None
            curve.append(
                {
                    "requests": step + 1,
                    "level": state.level,
                    "bound": ub,
                    "realized": wrong_after / served_after if served_after else None,
                    "hit_rate": served_after / requests_after if requests_after else None,
                }
            )
    realized = wrong_after / served_after if served_after else 0.0
    hit_rate = served_after / requests_after
    static = hindsight(pool, draws[args.warmup :], realized, grid(ladder))
    return {
        "seed": seed,
        "delta": delta,
        "realized": realized,
        "served": served_after,
        "wrong": wrong_after,
        "hit_rate": hit_rate,
        "paid_audits": paid,
        "free_audits": free,
        "final_level": state.level,
        "static_hit_rate": static["hit_rate"],
        "static_setting": static["setting"],
        "curve": curve,
    }


def hindsight(
    pool: dict[str, np.ndarray[Any, Any]],
    draws: np.ndarray[Any, Any],
    realized: float,
    settings: tuple[list[float], list[float]],
) -> dict[str, Any]:
    """The static (threshold, cut-off) of `settings` with the most hits on these requests whose
    realized wrong-answer rate is at most `realized` (near repeats always served, as in the
    engine)."""
    cos, prob, near, dup = (pool[k][draws] for k in ("cos", "prob", "near", "dup"))
    best: dict[str, Any] = {"hit_rate": 0.0, "setting": None}
    for t in settings[0]:
        above = cos >= t
        for c in settings[1]:
            hit = near | (above & (prob >= c))
            n = int(hit.sum())
            if not n:
                continue
            err = int((hit & ~dup).sum()) / n
            if err <= realized + 1e-12 and n / len(draws) > best["hit_rate"]:
                best = {"hit_rate": n / len(draws), "setting": [t, c]}
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--half", default="report", choices=["fit", "report"])
    parser.add_argument("--scores-cache", default="/tmp/bound_scores.npz")
    parser.add_argument("--max-pairs", type=int, default=1200, help="Quora pairs scored (0: all)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--audit-cap", type=float, default=0.1, help="audit_rate (hard cap)")
    parser.add_argument("--miss-rate", type=float, default=0.0)
    parser.add_argument("--false-alarm-rate", type=float, default=0.0)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--pools", default="quora,contrast")
    parser.add_argument("--deltas", default=",".join(map(str, DELTAS)), help="max_wrong_rate")
    parser.add_argument("--plot", default="", help="write the curves of seed 0 to this PNG")
    args = parser.parse_args(argv)

    pools = load_scores(args.scores_cache, args.half, args.max_pairs)
    deltas = [float(d) for d in args.deltas.split(",")]
    shipped = (CacheConfig().similarity_threshold, VerifierWeights.load(judge=True).cutoff)
    ladder = qb.Ladder(*shipped)  # the shipped defaults
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for name in args.pools.split(","):
        pool = pools[name]
        for delta in deltas:
            results = [simulate(pool, ladder, delta, seed, args) for seed in range(args.seeds)]
            runs += [{"pool": name, **r} for r in results]
            held = sum(r["realized"] <= delta for r in results)
            better = sum(r["hit_rate"] >= r["static_hit_rate"] for r in results)
            rows.append(
                {
                    "pool": f"{name} ({len(pool['dup'])})",
                    "delta": delta,
                    "held": f"{held}/{len(results)}",
                    "realized_mean": float(np.mean([r["realized"] for r in results])),
                    "realized_max": float(np.max([r["realized"] for r in results])),
                    "hit_rate": float(np.mean([r["hit_rate"] for r in results])),
                    "static_best": float(np.mean([r["static_hit_rate"] for r in results])),
                    ">=static": f"{better}/{len(results)}",
                    "paid_audits": float(np.mean([r["paid_audits"] for r in results])),
                    "free_audits": float(np.mean([r["free_audits"] for r in results])),
                }
            )
    base = {
        name: {
            "duplicates": float(np.mean(p["dup"])),
            "shipped_precision": _precision(p, *shipped),
        }
        for name, p in pools.items()
    }
    print_table(
        f"max_wrong_rate on {args.half} pairs: {args.seeds} seeds, {args.requests} requests "
        f"({args.warmup} warm-up), audit cap {args.audit_cap}, comparator misses "
        f"{args.miss_rate} / false alarms {args.false_alarm_rate}",
        rows,
        list(rows[0]),
    )
    print(f"pools: {json.dumps(base)}")
    for name in args.pools.split(","):  # curves of the first seed, every 4 checkpoints
        for delta in deltas:
            run = next(r for r in runs if r["pool"] == name and r["delta"] == delta)
            print_table(
                f"curve: {name}, max_wrong_rate {delta}, seed 0 (realized and hit rate: after "
                f"warm-up so far)",
                run["curve"][3::4],
                ["requests", "level", "bound", "realized", "hit_rate"],
            )
    name = "bound" + ("" if args.half == "report" else "_fit")
    if deltas != list(DELTAS):
        name += "_deltas" + "_".join(f"{d:g}" for d in deltas)
    if args.miss_rate or args.false_alarm_rate:
        name += f"_noisy{args.miss_rate:g}_{args.false_alarm_rate:g}"
    path = write_json(name, {"args": vars(args), "pools": base, "table": rows, "runs": runs})
    print(f"JSON: {path}")
    if args.plot:
        print(f"curves: {plot(runs, args.plot, args.warmup)}")


def plot(runs: Sequence[dict[str, Any]], out: str, warmup: int) -> Path:
    """Seed 0 of each pool and δ: the bound at the level in force and the realized error
    (left), the hit rate against the hindsight-best static setting's (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # A pool where no level was ever proved has no curve to draw (its table row says so).
    pools = [
        pool
        for pool in dict.fromkeys(r["pool"] for r in runs)
        if any(c["bound"] is not None for r in runs if r["pool"] == pool for c in r["curve"])
    ]
    fig, axes = plt.subplots(len(pools), 2, figsize=(10, 3.2 * len(pools)), squeeze=False)
    for row, pool in zip(axes, pools, strict=True):
        for run in (r for r in runs if r["pool"] == pool and r["seed"] == 0):
            curve = run["curve"]
            x = [c["requests"] for c in curve]
            delta = run["delta"]
            (line,) = row[0].plot(
                x, [c["bound"] for c in curve], label=f"bound, δ={delta:g}", linewidth=1.2
            )
            row[0].plot(x, [c["realized"] for c in curve], linestyle="--", color=line.get_color(),
                        linewidth=1, label=f"realized, δ={delta:g}")  # fmt: skip
            row[0].axhline(delta, color=line.get_color(), linestyle=":", linewidth=0.8)
            row[1].plot(x, [c["hit_rate"] for c in curve], color=line.get_color(),
                        label=f"δ={delta:g}", linewidth=1.2)  # fmt: skip
            row[1].axhline(run["static_hit_rate"], color=line.get_color(), linestyle=":",
                           linewidth=0.8)  # fmt: skip
        for ax in row:
            ax.axvline(warmup, color="grey", linewidth=0.6)
            ax.set_xlabel("requests")
        row[0].set_ylabel("wrong-answer rate")
        row[0].set_title(f"{pool}: 95% bound (solid), realized (dashed), δ (dotted)", fontsize=9)
        row[1].set_ylabel("hit rate after warm-up")
        row[1].set_title(f"{pool}: hit rate; dotted: hindsight-best static setting", fontsize=9)
        row[0].legend(fontsize=7)
        row[1].legend(fontsize=7)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _precision(p: dict[str, np.ndarray[Any, Any]], t: float, c: float) -> float:
    hit = p["near"] | ((p["cos"] >= t) & (p["prob"] >= c))
    n = int(hit.sum())
    return math.nan if not n else int((hit & p["dup"]).sum()) / n


if __name__ == "__main__":
    main()
