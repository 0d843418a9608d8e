"""docs/agents.md's examples run as written and print what the page says they do."""

from __future__ import annotations

import pytest

from ..docs import page_blocks

PAGE, BLOCKS = page_blocks("agents.md")


def run(block: str) -> None:
    exec(compile(block, str(PAGE), "exec"), {})


def test_an_agent_streams_a_hit_without_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    run(BLOCKS[0])
    assert capsys.readouterr().out.splitlines() == [
        "['Sunny', ' ', 'in', ' ', 'Paris.']",  # the model's stream
        "['Sunny ', 'in ', 'Paris.']",  # the hit, replayed a word a chunk
    ]


def test_a_cached_node_runs_once(capsys: pytest.CaptureFixture[str]) -> None:
    run(BLOCKS[1])
    assert capsys.readouterr().out.splitlines() == [
        "searching Paris",
        "{'city': 'Paris: sunny'} {'city': 'Paris: sunny'}",
    ]


def test_the_page_fits_in_the_readme() -> None:
    assert len(PAGE.read_text().splitlines()) <= 40 and len(BLOCKS) == 2
