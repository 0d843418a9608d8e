"""Every script in examples/ runs as a user would run it, offline, and says what it shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=EXAMPLES.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_example_is_short_and_tested() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == [
        "langchain_chat.py",
        "llamaindex_agent.py",
        "llamaindex_rag.py",
        "shared_redis.py",
        "stats_page.py",
    ]
    for name in scripts:
        assert len((EXAMPLES / name).read_text().splitlines()) < 80, name


@pytest.mark.slow
def test_langchain_chat() -> None:
    out = run("langchain_chat.py")
    assert "'Paris.'   from the cache (exact)" in out
    assert "'Paris.'   from the cache (semantic)" in out
    assert "hits: 1 exact, 1 semantic; misses: 2" in out


@pytest.mark.slow
def test_llamaindex_rag() -> None:
    out = run("llamaindex_rag.py")
    assert "LLM cache: 1 exact hit(s), 1 miss(es)" in out


@pytest.mark.slow
def test_llamaindex_agent() -> None:
    out = run("llamaindex_agent.py")
    assert '"What\'s 12 divided by 3?" step -> cache (semantic, 0.9' in out
    assert "'What is 3 divided by 12?' -> It is 0.25." in out  # swapped operands: not served
    assert "hits: 1 semantic; model calls: 5" in out


@pytest.mark.slow
@pytest.mark.redis
def test_shared_redis(redis_url: str) -> None:
    out = run("shared_redis.py", redis_url)
    assert "writer process: stored the answer" in out
    assert "reader process: \"What's the capital city of France?\" -> 'Paris.' (semantic)" in out


@pytest.mark.slow
def test_stats_page() -> None:
    out = run("stats_page.py", "--once")
    assert "'How can I reset my password?'             -> cache (semantic)" in out
    assert "stats page: http://127.0.0.1:" in out
