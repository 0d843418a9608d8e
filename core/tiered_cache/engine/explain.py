"""Why a request would (not) be served: a read-only operation of the engine, the lookup plan
run with its evidence kept.

`explain` drives the cache's own lookup plan through the runner, so every backend call is made
at the error edge (a failing backend is a `BackendError`, never a raw client exception) and the
verdict is the one a lookup would reach; but it reads entries without counting hits, deletes
nothing and records no statistics. Its k-NN search fetches a few more neighbours than a lookup
does, to show what was near; the plan itself only sees the neighbours a lookup would see.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .ops import Delete, Get, Search

if TYPE_CHECKING:
    from ..config import CacheConfig
    from ..request import CacheRequest
    from .plans import CacheHit
    from .runner import Runner

PREVIEW_CHARS = 200


def explain(
    runner: Runner, config: CacheConfig, request: CacheRequest, k: int = 5
) -> dict[str, Any]:
    """What a lookup of `request` would return, and why. Backend errors are raised."""
    plans = runner.plans
    index = runner.backends.index if plans.semantic else None
    verifier = plans.verifier
    plan = plans.lookup(request, counted=False)
    fetched: dict[str, bool] = {}
    exact_found = False
    searched = False
    neighbours: list[Any] = []
    seen_by_plan = 0
    last_key: str | None = None
    hit: CacheHit | None = None
    try:
        op = next(plan)
        while True:
            result: Any
            if isinstance(op, Get):
                result = runner.peek(op.key)
                if op.key == request.exact_key:
                    exact_found = result is not None
                fetched[op.key] = result is not None
                last_key = op.key
            elif isinstance(op, Delete):
                result = None  # read-only: a stale entry stays for the next real lookup
            elif isinstance(op, Search):
                assert index is not None
                searched = True
                neighbours = runner.do(dataclasses.replace(op, k=max(k, op.k)))
                seen_by_plan = op.k
                result = neighbours[: op.k]
            else:
                result = runner.do(op)
            op = plan.send(result)
    except StopIteration as stop:
        hit = stop.value
    served_key = request.exact_key if hit is not None and hit.tier == "exact" else None
    if hit is not None and hit.tier == "semantic":
        served_key = last_key
    threshold = config.similarity_threshold
    if plans.thresholds is not None and searched:
        threshold = plans.thresholds.current(request.partition_key)
    candidates = []
    for rank, match in enumerate(neighbours):
        candidate: dict[str, Any] = {
            "key": match.key,
            "similarity": round(float(match.similarity), 4),
            "query": match.query_text,
            "above_threshold": match.similarity >= threshold,
            "considered": rank < seen_by_plan,
            "served": match.key == served_key,
        }
        if verifier is not None and request.query_text and match.query_text:
            score = verifier.score(request.query_text, match.query_text, match.similarity)
            candidate["verifier_score"] = round(score, 4)
        if match.key in fetched:
            candidate["entry_present"] = fetched[match.key]
        candidates.append(candidate)
    out = {
        "query_text": request.query_text,
        "model": request.partition.get("model"),
        "partition_key": request.partition_key,
        "exact_key": request.exact_key,
        "deterministic": request.deterministic,
        "semantic_allowed": request.semantic_allowed,
        "semantic_tier": index is not None,
        "threshold": threshold,
        "verifier_cutoff": plans.verifier_cutoff,
        "exact_entry": exact_found,
        "candidates": candidates,
        "served": None
        if hit is None
        else {
            "tier": hit.tier,
            "similarity": round(float(hit.similarity), 4),
            "matched_query": hit.matched_query,
            "key": served_key,
            "payload_preview": hit.payload[:PREVIEW_CHARS],
            "hit_count": hit.entry.hit_count,
        },
        "reason": _reason(index is not None, request, hit, candidates, threshold),
    }
    if request.conversation is not None:  # history="relevant": which turns, and how they met
        checks = _context_checks(runner, request, candidates)
        out["conversation"] = {**request.conversation.describe(), "checks": checks}
        failed = [c for c in checks if not c["matched"]]
        if hit is None and failed:
            out["reason"] = (
                f"miss: the question matched, but not the conversation: {failed[0]['why']}"
            )
    return out


def _context_checks(
    runner: Runner, request: CacheRequest, candidates: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """How the request's compared turns met those of each stored neighbour that was read."""
    checks = []
    for candidate in candidates:
        raw = runner.peek(candidate["key"]) if candidate.get("entry_present") else None
        entry = runner.plans.entry(raw) if raw is not None else None
        if entry is None or not (request.context or entry.context):
            continue
        plan = runner.plans.context_check(request, entry)
        try:
            op = next(plan)
            while True:
                op = plan.send(runner.do(op))
        except StopIteration as stop:
            check = stop.value
        turn = None if check.turn is None else request.context[check.turn]
        checks.append(
            {
                "key": candidate["key"],
                "matched": check.matched,
                "turn": None if turn is None else {"role": turn[0], "text": turn[1]},
                "why": check.why or "every compared turn matched",
            }
        )
    return checks


def _reason(
    semantic_tier: bool,
    request: CacheRequest,
    hit: CacheHit | None,
    candidates: list[dict[str, Any]],
    threshold: float,
) -> str:
    if hit is not None and hit.tier == "exact":
        return "exact: the same normalized request is stored"
    if hit is not None:
        return f"semantic: similarity {hit.similarity:.4f} >= threshold {threshold:.4f}"
    if not semantic_tier:
        return "miss: no exact entry, and the semantic tier is off"
    if request.query_text is None:
        return "miss: no exact entry, and the request does not end in a user turn"
    if not request.semantic_allowed:
        return (
            "miss: no exact entry, and the request is exact-only (temperature above "
            "max_semantic_temperature, or a final turn longer than semantic_max_chars)"
        )
    considered = [c for c in candidates if c["considered"]]
    if not considered:
        return "miss: no exact entry, and nothing stored in this partition"
    if not any(c["above_threshold"] for c in considered):
        best = considered[0]["similarity"]
        return f"miss: nearest neighbour at {best:.4f} is below threshold {threshold:.4f}"
    if any(c.get("entry_present") is False for c in considered):
        return "miss: the neighbours above the threshold have expired or been evicted"
    return "miss: the neighbours above the threshold were rejected by the verifier"


__all__ = ["explain"]
