"""The README's core example runs as written and prints what it says."""

from __future__ import annotations

import pytest

from ..readme import README, python_blocks


def test_core_api_example(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = python_blocks("The core API")
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == ["Paris. semantic 0.957"]
