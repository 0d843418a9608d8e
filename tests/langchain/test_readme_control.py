"""The "Streaming, per-call control, invalidation" examples of docs/langchain.md run as written."""

from __future__ import annotations

import pytest

from ..readme import page_path, python_blocks

DOCS = "docs/langchain.md"
BLOCKS = python_blocks("Streaming, per-call control, invalidation", page=DOCS)


def test_streaming_example(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[0], str(page_path(DOCS)), "exec"), {})
    assert capsys.readouterr().out.splitlines() == [
        "Paris is the capital of France.",
        "6 Paris is the capital of France.",
        "semantic",
        "(called again)",
    ]


def test_invalidation_example(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[1], str(page_path(DOCS)), "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["1", "0", "1", "None"]
