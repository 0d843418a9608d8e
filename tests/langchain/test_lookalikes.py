"""Look-alike requests reach the model; paraphrases are served (both backends, sync and async)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ..lookalikes import (
    HISTORY_LOOKALIKES,
    HISTORY_PARAPHRASES,
    LOOKALIKES,
    PARAPHRASES,
    Case,
    Turn,
)
from .conftest import Invoke, LCCacheFactory
from .fakes import EchoChat

_CLASSES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}


def message(turn: Turn) -> BaseMessage:
    content: Any = turn.text
    if turn.image:
        content = [
            {"type": "text", "text": turn.text},
            {"type": "image_url", "image_url": {"url": turn.image}},
        ]
    extra = {"name": turn.name} if turn.name else {}
    return _CLASSES[turn.role](content=content, **extra)


def messages(turns: tuple[Turn, ...]) -> list[BaseMessage]:
    return [message(t) for t in turns]


@pytest.mark.parametrize("case", LOOKALIKES, ids=lambda c: c.id)
async def test_a_lookalike_request_reaches_the_model(
    make_lc_cache: LCCacheFactory, invoke: Invoke, case: Case
) -> None:
    model = EchoChat(cache=make_lc_cache())
    await invoke(model, messages(case.first))
    second = await invoke(model, messages(case.second))
    assert model.calls == 2, f"served {second.response_metadata.get('tiered_cache')}"
    assert second.content == f"answer #2 to: {case.second[-1].text}"


@pytest.mark.parametrize("case", PARAPHRASES, ids=lambda c: c.id)
async def test_a_paraphrase_is_served(
    make_lc_cache: LCCacheFactory, invoke: Invoke, case: Case
) -> None:
    model = EchoChat(cache=make_lc_cache())
    first = await invoke(model, messages(case.first))
    second = await invoke(model, messages(case.second))
    assert model.calls == 1
    assert second.content == first.content == f"answer #1 to: {case.first[-1].text}"
    assert second.response_metadata["tiered_cache"]["tier"] == "semantic"


async def test_extra_fields_of_the_final_turn_decide_a_hit(
    make_lc_cache: LCCacheFactory, invoke: Invoke
) -> None:
    model = EchoChat(cache=make_lc_cache())

    def turn(locale: str) -> list[BaseMessage]:
        return [HumanMessage("What's the date format?", additional_kwargs={"locale": locale})]

    await invoke(model, turn("en-US"))
    other = await invoke(model, turn("de-DE"))
    assert model.calls == 2 and other.content == "answer #2 to: What's the date format?"
    same = await invoke(model, turn("en-US"))
    assert model.calls == 2 and same.content == "answer #1 to: What's the date format?"


@pytest.mark.parametrize("case", HISTORY_LOOKALIKES, ids=lambda c: c.id)
async def test_history_relevant_a_conversation_lookalike_reaches_the_model(
    make_lc_cache: LCCacheFactory, invoke: Invoke, case: Case
) -> None:
    model = EchoChat(cache=make_lc_cache(history="relevant"))
    await invoke(model, messages(case.first))
    second = await invoke(model, messages(case.second))
    assert model.calls == 2, f"served {second.response_metadata.get('tiered_cache')}"
    assert second.content == f"answer #2 to: {case.second[-1].text}"


@pytest.mark.parametrize("case", HISTORY_PARAPHRASES, ids=lambda c: c.id)
async def test_history_relevant_a_conversation_paraphrase_is_served(
    make_lc_cache: LCCacheFactory, invoke: Invoke, case: Case
) -> None:
    model = EchoChat(cache=make_lc_cache(history="relevant"))
    first = await invoke(model, messages(case.first))
    second = await invoke(model, messages(case.second))
    assert model.calls == 1
    assert second.content == first.content == f"answer #1 to: {case.first[-1].text}"


@pytest.mark.parametrize("case", HISTORY_PARAPHRASES, ids=lambda c: c.id)
async def test_history_exact_a_conversation_paraphrase_reaches_the_model(
    make_lc_cache: LCCacheFactory, invoke: Invoke, case: Case
) -> None:
    model = EchoChat(cache=make_lc_cache(history="exact"))
    await invoke(model, messages(case.first))
    second = await invoke(model, messages(case.second))
    assert model.calls == 2 and second.content == f"answer #2 to: {case.second[-1].text}"
