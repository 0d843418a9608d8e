"""The README's "Streaming, per-call control, invalidation" examples run as written."""

from __future__ import annotations

import pytest

from ..readme import README, python_blocks

BLOCKS = python_blocks("Streaming, per-call control, invalidation")


def test_streaming_example(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[0], str(README), "exec"), {})
    assert capsys.readouterr().out.splitlines() == [
        "Paris is the capital of France.",
        "6 Paris is the capital of France.",
        "semantic",
        "(called again)",
    ]


def test_invalidation_example(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[1], str(README), "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["1", "0", "1", "None"]
