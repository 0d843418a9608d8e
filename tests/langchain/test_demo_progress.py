"""`tiered-cache demo` shows its progress as a bar, with or without tqdm."""

from __future__ import annotations

import io
import sys

import pytest

from tiered_cache_demo.demo import Progress


def test_without_tqdm_a_file_gets_a_line_every_tenth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    out = io.StringIO()
    bar = Progress(20, out)
    for _ in range(20):
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # at once, then each tenth of the way
    assert lines[0] == "  [#.............................] 1/20"
    assert lines[1] == "  [###...........................] 2/20"
    assert lines[-1] == "  [" + "#" * 30 + "] 20/20"


def test_without_tqdm_a_terminal_gets_one_bar_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    bar = Progress(4, out)
    for _ in range(4):
        bar.update()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("] 4/4\n")


def test_with_tqdm_its_bar_counts_the_requests() -> None:
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = Progress(7, out)
    for _ in range(7):
        bar.update()
    bar.close()
    assert "7/7" in out.getvalue() and "requests" in out.getvalue()
