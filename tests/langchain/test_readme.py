"""The README section's examples run as written."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.caches import BaseCache

from ..readme import README, python_blocks

BLOCKS = python_blocks("LangChain")


def test_embedded_example(
    capsys: pytest.CaptureFixture[str], global_cache: Callable[[BaseCache], None]
) -> None:
    exec(compile(BLOCKS[0], str(README), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["Paris.", "Paris."]
    assert lines[2].startswith("{'hit': True, 'tier': 'semantic', 'similarity': 0.95")
    assert lines[3:] == ["Madrid. Madrid.", "1"]


@pytest.mark.redis
def test_redis_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    exec(compile(BLOCKS[1], str(README), "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["42.", "42."]
