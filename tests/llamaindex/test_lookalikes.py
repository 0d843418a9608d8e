"""Look-alike requests reach the LLM; paraphrases are served (chat and complete, both backends,
sync and async)."""

from __future__ import annotations

import base64

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock

from llamaindex_tiered_cache import CachedLLM

from ..conftest import CacheFactory
from ..lookalikes import (
    HISTORY_LOOKALIKES,
    HISTORY_PARAPHRASES,
    LOOKALIKES,
    PARAPHRASES,
    Case,
    Turn,
)
from .conftest import CountingLLM


def _prompt_only(case: Case) -> bool:
    """One plain user text on both sides: the case as a completion prompt."""
    turns = (*case.first, *case.second)
    return len(turns) == 2 and not any(t.image or t.name or t.role != "user" for t in turns)


TEXT_ONLY = [c for c in LOOKALIKES if _prompt_only(c)]
TEXT_ONLY_PARAPHRASES = [c for c in PARAPHRASES if _prompt_only(c)]


def message(turn: Turn) -> ChatMessage:
    blocks: list[TextBlock | ImageBlock] = [TextBlock(text=turn.text)]
    if turn.image and turn.image.startswith("data:"):
        blocks.append(ImageBlock(image=base64.b64decode(turn.image.split(",", 1)[1])))
    elif turn.image:
        blocks.append(ImageBlock(url=turn.image))
    extra = {"name": turn.name} if turn.name else {}
    return ChatMessage(role=turn.role, blocks=blocks, additional_kwargs=extra)


def messages(turns: tuple[Turn, ...]) -> list[ChatMessage]:
    return [message(t) for t in turns]


async def chat(llm: CachedLLM, turns: tuple[Turn, ...], mode: str) -> str:
    if mode == "sync":
        return str(llm.chat(messages(turns)).message.content)
    return str((await llm.achat(messages(turns))).message.content)


async def complete(llm: CachedLLM, prompt: str, mode: str) -> str:
    if mode == "sync":
        return llm.complete(prompt).text
    return (await llm.acomplete(prompt)).text


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", LOOKALIKES, ids=lambda c: c.id)
async def test_a_lookalike_chat_reaches_the_llm(
    make_cache: CacheFactory, case: Case, mode: str
) -> None:
    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache())
    await chat(llm, case.first, mode)
    second = await chat(llm, case.second, mode)
    assert inner.calls == 2
    assert second.startswith("answer 2 from fake-1:")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", TEXT_ONLY, ids=lambda c: c.id)
async def test_a_lookalike_prompt_reaches_the_llm(
    make_cache: CacheFactory, case: Case, mode: str
) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())
    await complete(llm, case.first[0].text, mode)
    second = await complete(llm, case.second[0].text, mode)
    assert inner.calls == 2
    assert second.startswith("answer 2 from fake-1:")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", PARAPHRASES, ids=lambda c: c.id)
async def test_a_paraphrase_chat_is_served(make_cache: CacheFactory, case: Case, mode: str) -> None:
    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache())
    first = await chat(llm, case.first, mode)
    second = await chat(llm, case.second, mode)
    assert inner.calls == 1
    assert second == first and first.startswith("answer 1 from fake-1:")


@pytest.mark.parametrize("case", TEXT_ONLY_PARAPHRASES, ids=lambda c: c.id)
async def test_a_paraphrase_prompt_is_served(make_cache: CacheFactory, case: Case) -> None:
    inner = CountingLLM()
    llm = CachedLLM(llm=inner, cache=make_cache())
    first = await complete(llm, case.first[0].text, "sync")
    hit = llm.complete(case.second[0].text)
    assert inner.calls == 1
    assert hit.text == first and first.startswith("answer 1 from fake-1:")
    assert hit.additional_kwargs["tiered_cache"]["tier"] == "semantic"


@pytest.mark.parametrize("chat_model", [False, True])
async def test_engines_over_one_context_answer_each_question(
    make_cache: CacheFactory, chat_model: bool
) -> None:
    """The flows of a real app: a context chat engine (context + question flattened into one
    prompt for a completion LLM) and a query engine (the QA template), both over one shared
    context. Another question reaches the LLM; a paraphrase of the same question is served."""
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    inner = CountingLLM(chat_model=chat_model)
    Settings.llm = CachedLLM(llm=inner, cache=make_cache())
    Settings.embed_model = MockEmbedding(embed_dim=8)  # every node retrieved: one context
    index = VectorStoreIndex.from_documents(
        [Document(text="Madrid is the capital of Spain. Berlin is the capital of Germany.")]
    )
    chat_engine = index.as_chat_engine(chat_mode="context")
    spain = chat_engine.chat("What is the capital of Spain?")
    chat_engine.reset()
    germany = chat_engine.chat("What is the capital of Germany?")
    assert inner.calls == 2 and str(germany) != str(spain)

    query_engine = index.as_query_engine()
    first = query_engine.query("What is the capital of France?")
    other = query_engine.query("Which river flows through Berlin?")
    para = query_engine.query("What's the capital city of France?")
    assert inner.calls == 4 and str(other) != str(first)
    assert str(para) == str(first)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", HISTORY_LOOKALIKES, ids=lambda c: c.id)
async def test_history_relevant_a_conversation_lookalike_reaches_the_llm(
    make_cache: CacheFactory, case: Case, mode: str
) -> None:
    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache(history="relevant"))
    await chat(llm, case.first, mode)
    second = await chat(llm, case.second, mode)
    assert inner.calls == 2
    assert second.startswith("answer 2 from fake-1:")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", HISTORY_PARAPHRASES, ids=lambda c: c.id)
async def test_history_relevant_a_conversation_paraphrase_is_served(
    make_cache: CacheFactory, case: Case, mode: str
) -> None:
    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache(history="relevant"))
    first = await chat(llm, case.first, mode)
    second = await chat(llm, case.second, mode)
    assert inner.calls == 1
    assert second == first and first.startswith("answer 1 from fake-1:")


def agent_step(question: str, result: str) -> list[ChatMessage]:
    """An agent's later step: the question, the LLM's tool call, the tool's result."""
    from llama_index.core.base.llms.types import ToolCallBlock

    call = ToolCallBlock(tool_call_id="c1", tool_name="weather", tool_kwargs={"city": "Paris"})
    return [
        ChatMessage(role="user", content=question),
        ChatMessage(role="assistant", blocks=[call]),
        ChatMessage(role="tool", content=result, additional_kwargs={"tool_call_id": "c1"}),
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_agents_later_step_is_served_for_a_reworded_question(
    make_cache: CacheFactory, mode: str
) -> None:
    """The default history="relevant": the question by meaning, the tool steps exact."""
    inner = CountingLLM(chat_model=True)
    llm = CachedLLM(llm=inner, cache=make_cache())

    async def ask(steps: list[ChatMessage]) -> str:
        if mode == "sync":
            return str(llm.chat(steps).message.content)
        return str((await llm.achat(steps)).message.content)

    first = await ask(agent_step("What is the weather like in Paris?", "sunny"))
    reworded = await ask(agent_step("How is the weather in Paris?", "sunny"))
    assert inner.calls == 1 and reworded == first and first.startswith("answer 1 from fake-1:")
    other = await ask(agent_step("How is the weather in Paris?", "rainy"))
    assert inner.calls == 2 and other.startswith("answer 2 from fake-1:")
