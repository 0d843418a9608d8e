"""The README's agents section: its examples run as written and print what it says they do."""

from __future__ import annotations

import pytest

from ..readme import README, python_blocks, section

BLOCKS = python_blocks("Agents and LangGraph")


def run(block: str) -> None:
    exec(compile(block, str(README), "exec"), {})


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


def test_the_section_stays_short() -> None:
    assert len(section("Agents and LangGraph").splitlines()) <= 40 and len(BLOCKS) == 2
