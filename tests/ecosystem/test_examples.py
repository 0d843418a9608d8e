"""Every script in examples/ runs as a user would run it, offline, and says what it shows."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

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
    assert out.splitlines() == [
        "  (the LLM was called)",  # once: the repeat is served by the cache
        "'Which river flows through Paris?' -> 'The Seine flows through Paris.'",
        "'Which river flows through Paris?' -> 'The Seine flows through Paris.'",
        "LLM cache: 1 exact hit(s), 1 miss(es)",
    ]


@pytest.mark.slow
def test_llamaindex_agent() -> None:
    out = run("llamaindex_agent.py")
    assert '"What\'s 12 divided by 3?" step -> cache (semantic, 0.9' in out
    assert "'What is 3 divided by 12?' -> It is 0.25." in out  # swapped operands: not served
    # both steps of the reworded question are served (the tool step by its question)
    assert "hits: 2 semantic; model calls: 4" in out


@pytest.mark.slow
@pytest.mark.redis
def test_shared_redis(redis_url: str) -> None:
    out = run("shared_redis.py", redis_url)
    assert "writer process: stored the answer" in out
    assert "reader process: \"What's the capital city of France?\" -> 'Paris.' (semantic)" in out


@pytest.mark.slow
def test_stats_page() -> None:
    out = run("stats_page.py", "--seconds", "0")
    assert "'How can I reset my password?'             -> cache (semantic)" in out
    assert "stats page: http://127.0.0.1:" in out
    assert out.endswith("stopped\n")


def start_stats_page(stdin: Any) -> tuple[subprocess.Popen[str], str]:
    """The stats-page example running; the URL of its page once it says it serves one."""
    # PYTHONFAULTHANDLER: a native crash of the example prints its stack instead of nothing.
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "PYTHONFAULTHANDLER": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "stats_page.py")],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=EXAMPLES.parent,
    )
    assert proc.stdout is not None
    # Lines are read from the pipe's text buffer only (a select() on the pipe after a readline
    # that buffered several lines waits for data already read: that was this test's rare
    # hang). At the deadline a timer aborts the example: SIGABRT makes its fault handler print
    # every thread's stack, and ends the reads with EOF.
    timer = threading.Timer(120, lambda: proc.poll() is None and proc.send_signal(signal.SIGABRT))
    timer.start()
    try:
        for line in iter(proc.stdout.readline, ""):
            if line.startswith("stats page: "):
                return proc, line.split()[2]
    finally:
        timer.cancel()
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    raise AssertionError(
        f"no page served (exit status {proc.returncode}): stdout {out[-500:]!r}, "
        f"stderr {err[-4000:]!r}"
    )


def still_serving(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=10) as response:
        return b"tiered-cache: support" in response.read()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stats_page_without_a_terminal_serves_until_stopped(stop: signal.Signals) -> None:
    proc, url = start_stats_page(subprocess.DEVNULL)  # stdin at EOF, not a terminal
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "no terminal: serving until Ctrl-C or SIGTERM\n"
        assert still_serving(url)  # EOF on stdin did not stop it
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        assert out == "stopped\n"
    finally:
        proc.kill()


@pytest.mark.slow
def test_stats_page_at_a_terminal_stops_on_enter() -> None:
    terminal, stdin = pty.openpty()
    try:
        proc, url = start_stats_page(stdin)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "press Enter or Ctrl-C to stop\n"
        assert still_serving(url)
        os.write(terminal, b"\n")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        assert out == "stopped\n"
    finally:
        os.close(terminal)
        os.close(stdin)
