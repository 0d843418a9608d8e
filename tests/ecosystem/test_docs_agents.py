"""docs/agents.md: its examples run as written and print what the page says they do."""

from __future__ import annotations

import pytest

from ..readme import python_blocks

PAGE = "docs/agents.md"


def test_a_flight_serves_the_leaders_answer(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = python_blocks("One model call per step, however many identical runs at once", PAGE)
    exec(block, {})
    assert capsys.readouterr().out.splitlines() == ["6 exact False"]


def test_the_lookup_events_reach_a_handler(capsys: pytest.CaptureFixture[str]) -> None:
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.llms import ChatMessage, MockLLM

    from llamaindex_tiered_cache import cached_llm

    (block,) = python_blocks("Which steps came from the cache", PAGE)
    namespace: dict[str, object] = {}
    exec(block, namespace)
    dispatcher = get_dispatcher()
    try:
        llm = cached_llm(MockLLM(), semantic=False)
        question = [ChatMessage(role="user", content="What is 12 divided by 3?")]
        llm.chat(question)
        llm.chat(question)
        tiers = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
        assert tiers == ["miss", "exact"]
    finally:
        dispatcher.event_handlers = [
            h for h in dispatcher.event_handlers if type(h).__name__ != "CacheSteps"
        ]
