"""Semantic hits that are right, with the real all-MiniLM-L6-v2, on both backends: the verifier
rejects hard negatives that cosine similarity accepts, and true paraphrases still hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiered_cache import TieredCache
from tiered_cache.tools.cli import main as cli_main

from ..conftest import CacheFactory

# (stored, asked): cosine puts each pair above the threshold used below; the answers differ.
HARD_NEGATIVES = [
    ("How do I lose 5 kg in a month?", "How do I lose 10 kg in a month?"),
    ("What is the best laptop under $500?", "What is the best laptop under $1000?"),
    ("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?"),
]
PARAPHRASES = [
    ("What is the best laptop under $500?", "Which is the best laptop under $500?"),
    ("How do I reset my password?", "How can I reset my password?"),
]
THRESHOLD = 0.85  # low enough that cosine alone serves every hard negative above


def ask(cache: TieredCache, stored: str, asked: str) -> str | None:
    cache.store(cache.request(stored, model="m"), f"answer to: {stored}")
    hit = cache.lookup(cache.request(asked, model="m"))
    return hit.payload if hit is not None else None


@pytest.mark.slow
@pytest.mark.parametrize(("stored", "asked"), HARD_NEGATIVES)
def test_verifier_rejects_what_cosine_accepts(
    make_cache: CacheFactory, stored: str, asked: str
) -> None:
    plain = make_cache(threshold=THRESHOLD, verifier=False)
    assert ask(plain, stored, asked) == f"answer to: {stored}"  # the false hit of cosine
    plain.clear()
    verified = make_cache(threshold=THRESHOLD)
    assert ask(verified, stored, asked) is None
    assert verified.stats()["verifier_rejections"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(("stored", "asked"), PARAPHRASES)
def test_true_paraphrase_still_hits_with_the_defaults(
    make_cache: CacheFactory, stored: str, asked: str
) -> None:
    cache = make_cache()  # shipped threshold and verifier cut-off
    assert ask(cache, stored, asked) == f"answer to: {stored}"
    assert cache.stats()["verifier_rejections"] == 0


@pytest.mark.slow
def test_calibrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(s, a, False) for s, a in HARD_NEGATIVES] + [(s, a, True) for s, a in PARAPHRASES]
    rows += [
        ("How do I cook rice?", "What is the capital of France?", False),
        ("What is the capital of France?", "What's the capital city of France?", True),
        ("How do I learn Python quickly?", "How can I learn Python fast?", True),
        ("How do I make cold brew coffee?", "How can I make cold brew coffee at home?", True),
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(json.dumps({"a": a, "b": b, "duplicate": d}) + "\n" for a, b, d in rows)
    )
    png = tmp_path / "curve.png"
    # 9 pairs cannot vouch for 0.95 at 95% confidence (test_calibrate.py): judge the estimate.
    args = ["calibrate", str(path), "--confidence", "0.5", "--plot", str(png)]
    code = cli_main(args)
    printed = capsys.readouterr().out
    assert code == 0 and "target 0.95 reached" in printed
    assert cli_main(["--json", *args]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == 1.0 and result["hit_rate"] == 1.0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "plot skipped" in printed
    else:
        assert png.read_bytes()[:4] == b"\x89PNG"
