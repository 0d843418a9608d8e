"""The LlamaIndex examples of the README and of docs/llamaindex.md run as written."""

from __future__ import annotations

import pytest

from ..readme import README, page_path, python_blocks

DOCS = "docs/llamaindex.md"


@pytest.mark.slow
def test_the_quick_start_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = python_blocks("Quick start: LlamaIndex")
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(block, str(README), "exec"), namespace)
    assert capsys.readouterr().out.splitlines() == ["What is the capital of France?", "semantic"]
    assert namespace["first"].text == "What is the capital of France?"  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.usefixtures("restore_settings")
def test_the_rag_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks("A cached RAG app", page=DOCS)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(page_path(DOCS)), "exec"), {"__name__": "readme"})

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "What is the capital of France?"
    assert "'tier': 'semantic'" in printed[1]
    assert float(printed[2]) > 0
