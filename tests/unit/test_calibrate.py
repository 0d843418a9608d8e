"""Calibration on a small synthetic labelled set (similarities chosen by a fake embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiered_cache import TieredCache
from tiered_cache.rules.calibration import ScoredPairs, choose, precision_lower_bound
from tiered_cache.tools import calibrate
from tiered_cache.tools.calibrate import plot, read_pairs

from .fake_embedder import MapEmbedder

TOPICS = [
    "bake bread", "learn chess", "plant tomatoes", "train a puppy", "tune a guitar",
    "fix a bike", "brew coffee", "paint a wall", "write a poem", "clean an oven",
    "knit a scarf", "sharpen knives", "grow basil", "file taxes", "repair a zipper",
    "make sushi", "study physics", "save money", "run faster", "sleep better",
]  # fmt: skip


def labelled_set(emb: MapEmbedder) -> list[tuple[str, str, bool]]:
    """Duplicates at cosine 0.93-0.98; different questions at 0.80-0.90; and hard negatives
    at 0.97 that differ only in a number (cosine alone cannot tell them apart)."""
    rng = np.random.default_rng(0)
    pairs = []
    for i, topic in enumerate(TOPICS):
        a, b = f"How do I {topic}?", f"What is the way to {topic}?"
        emb.pair(a, b, float(rng.uniform(0.93, 0.98)))
        pairs.append((b, a, True))
        c = f"Why do people {topic}?"
        emb.pair(a, c, float(rng.uniform(0.80, 0.90)))
        pairs.append((c, a, False))
        if i % 2 == 0:
            d, e = f"How do I {topic} in 5 minutes?", f"How do I {topic} in 50 minutes?"
            emb.pair(d, e, 0.97)
            pairs.append((e, d, False))
    return pairs


def test_calibrate_chooses_and_applies_a_precise_setting() -> None:
    emb = MapEmbedder()
    pairs = labelled_set(emb)
    plain = TieredCache(embedder=emb, verifier=False)
    cosine_only = plain.calibrate(pairs, target_precision=0.95)
    # Cosine alone cannot separate "5 minutes" from "50 minutes" at 0.97: target not reached.
    assert cosine_only.verifier_cutoff is None and not cosine_only.reached
    assert cosine_only.precision < 0.95
    assert plain.config.threshold == cosine_only.threshold  # applied all the same

    cache = TieredCache(embedder=emb)
    result = cache.calibrate(pairs, target_precision=0.85)
    assert result.reached and result.precision == 1.0
    # 20 true hits and no false one vouch for precision >= 0.881 at 95% confidence.
    assert result.precision_lower_bound == pytest.approx(0.8808, abs=1e-4)
    assert result.hit_rate == 1.0  # and the verifier vetoes "5" vs "50"
    assert 0.75 <= result.threshold <= 0.93  # not below the floor the verifier was fitted on
    assert (cache.config.threshold, cache.config.verifier_cutoff) == (
        result.threshold,
        result.verifier_cutoff,
    )
    assert result.pairs == len(pairs) and result.duplicates == len(TOPICS)
    assert len(result.curve) > 10 and result.curve[0].verified_precision is not None
    json.dumps(result.as_dict())  # plain data
    assert "reached" in result.summary()


def test_few_pairs_cannot_vouch_for_a_high_target() -> None:
    """20 duplicates all served and no false hit: precision 1.0 measured, but not enough
    evidence that it is >= 0.95 beyond these pairs. Said plainly; the point estimate
    (confidence 0.5) accepts it."""
    emb = MapEmbedder()
    pairs = labelled_set(emb)
    cache = TieredCache(embedder=emb)
    cautious = cache.calibrate(pairs, target_precision=0.95, apply=False)
    assert not cautious.reached and cautious.precision == 1.0
    assert f"unreachable on these {len(pairs)} pairs at 95% confidence" in cautious.summary()
    trusting = cache.calibrate(pairs, target_precision=0.95, confidence=0.5, apply=False)
    assert trusting.reached and trusting.precision_lower_bound == trusting.precision == 1.0
    assert trusting.hit_rate == 1.0
    with pytest.raises(ValueError, match="confidence"):
        cache.calibrate(pairs, confidence=1.0)


def test_precision_lower_bound() -> None:
    assert precision_lower_bound(0, 0, 0.95) == 0.0
    assert precision_lower_bound(90, 100, 0.5) == pytest.approx(0.90)
    # Wilson, one-sided 95%: 90/100 -> 0.840; 900/1000 -> 0.883 (more evidence, tighter).
    assert precision_lower_bound(90, 100, 0.95) == pytest.approx(0.8396, abs=1e-3)
    assert precision_lower_bound(900, 1000, 0.95) == pytest.approx(0.8834, abs=1e-3)


def test_calibrate_without_apply_leaves_the_config() -> None:
    emb = MapEmbedder()
    cache = TieredCache(embedder=emb)
    before = cache.config
    cache.calibrate(labelled_set(emb), apply=False)
    assert cache.config is before


def test_unreachable_target_is_reported_not_hidden() -> None:
    rng = np.random.default_rng(1)
    n = 200
    scored = ScoredPairs(
        similarity=rng.uniform(0.8, 1.0, n),
        score=np.ones(n),
        duplicate=rng.random(n) < 0.5,  # labels unrelated to similarity
        exact=np.zeros(n, dtype=bool),
    )
    result = choose(scored, 0.99, use_verifier=False, min_hits=20)
    assert not result.reached and result.precision < 0.99
    assert "NOT reached" in result.summary()


def test_read_pairs_and_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        '{"a": "x?", "b": "y?", "duplicate": true}\n\n{"a": "p", "b": "q", "duplicate": 0}\n'
    )
    assert read_pairs(path) == [("x?", "y?", True), ("p", "q", False)]
    (tmp_path / "bad.jsonl").write_text('{"a": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_pairs(tmp_path / "bad.jsonl")

    emb = MapEmbedder()
    result = TieredCache(embedder=emb).calibrate(labelled_set(emb), apply=False)
    with monkeypatch.context() as patch:

        def missing() -> None:
            raise ImportError("No module named 'matplotlib'")

        patch.setattr(calibrate, "_pyplot", missing)  # as if not installed
        assert plot(result, tmp_path / "none.png") is False
    assert not (tmp_path / "none.png").exists()
    pytest.importorskip("matplotlib")
    assert plot(result, tmp_path / "curve.png") is True
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
