"""The README's LlamaIndex example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SECTION = Path(__file__).parents[2] / "llamaindex_tiered_cache" / "README_SECTION.md"


@pytest.mark.slow
@pytest.mark.usefixtures("restore_settings")
def test_the_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", SECTION.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(SECTION), "exec"), {"__name__": "readme"})

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "What is the capital of France?"
    assert "'tier': 'semantic'" in printed[1]
    assert float(printed[2]) > 0
