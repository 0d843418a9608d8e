"""The Metrics and record/replay examples of docs/metrics.md run as written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..readme import python_blocks
from .conftest import clean_env, run_app_tests

DOCS = "docs/metrics.md"

pytest_plugins = ["pytester"]


def test_metrics_example() -> None:
    (block,) = python_blocks("Metrics", page=DOCS)
    # A fresh interpreter: Prometheus counters are process-wide.
    result = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0.0024"
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return
    assert lines[1] == 'tiered_cache_hits_total{namespace="default",tier="exact"} 1.0'


def test_record_replay_example(pytester: pytest.Pytester) -> None:
    (block,) = python_blocks("Testing your app with record/replay", page=DOCS)
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_bot.py").write_text(block)
    run_app_tests(pytester, "--llm-cache=record").assert_outcomes(passed=1)
    lines = (pytester.path / "tests" / "llm_cache.jsonl").read_text().splitlines()
    assert [json.loads(x)["query"] for x in lines] == ["What is the capital of France?"]
    run_app_tests(pytester, "--llm-cache=replay").assert_outcomes(passed=1)
    (pytester.path / "tests" / "test_bot.py").write_text(block.replace("France", "Peru"))
    result = run_app_tests(pytester, "--llm-cache=replay")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*LLMCacheMiss: not in tests/llm_cache.jsonl: What is the capital of Peru?*"]
    )
