"""The README's LlamaIndex example runs as written."""

from __future__ import annotations

import pytest

from ..readme import README, python_blocks


@pytest.mark.slow
@pytest.mark.usefixtures("restore_settings")
def test_the_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks("LlamaIndex")
    assert len(blocks) == 1
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme"})

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "What is the capital of France?"
    assert "'tier': 'semantic'" in printed[1]
    assert float(printed[2]) > 0
