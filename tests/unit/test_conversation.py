"""history="relevant": which earlier turns are compared (pure rules, no model)."""

from __future__ import annotations

from typing import Any

import pytest
from tiered_cache import CacheConfig
from tiered_cache.conversation import (
    is_assistant_chatter,
    is_chatter,
    is_plain_question,
    reaches_back,
    read_history,
    slot_swap,
)
from tiered_cache.errors import ConfigurationError
from tiered_cache.normalize import Normalizer
from tiered_cache.request import build_request


def chat(*turns: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"role": role, "content": text} for role, text in turns]


def relevant(messages: list[dict[str, Any]], **kw: Any) -> Any:
    return build_request(messages, model="m", history="relevant", **kw)


@pytest.mark.parametrize(
    "question",
    [
        "How long does it take to get there?",
        "What about Cusco?",
        "And for two people?",
        "Make it shorter.",
        "Do the same for Spain.",
        "Can you say that again?",
        "Which one is cheaper?",
        "In Paris?",
        "Should I wear a jacket?",
        "What's the best time to visit?",
        "Translate it to French.",
        "Is there a good restaurant nearby?",
        # a definite description that nothing in the question names: the chat said which
        "What is the population?",
        "Who was the captain?",
        "How high is the summit?",
        "Is the museum open on Sundays?",
    ],
)
def test_a_question_that_reaches_back_is_dependent(question: str) -> None:
    assert reaches_back(question) is not None


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Peru?",
        "What is photosynthesis?",
        "How many bones are in the human body?",
        "How do I boil an egg?",
        "Is there a cure for the common cold?",
        "Who painted the Mona Lisa?",
        "What is the population of Berlin?",
        "What is the speed of light?",
        "How far is the moon from the earth?",
    ],
)
def test_a_question_that_stands_alone(question: str) -> None:
    assert reaches_back(question) is None


@pytest.mark.parametrize("text", ["thanks!", "ok", "Thank you so much", "hi", "great, thanks"])
def test_chatter(text: str) -> None:
    assert is_chatter(text)


@pytest.mark.parametrize("text", ["yes", "no thanks", "sure", "ok, for six people", "Lima"])
def test_not_chatter(text: str) -> None:
    assert not is_chatter(text)


def test_ok_to_a_question_of_the_assistant_is_an_answer() -> None:
    assert not is_chatter("ok", previous_assistant="Shall I make it vegan?")
    assert is_chatter("ok", previous_assistant="How can I help you today?")


def test_assistant_pleasantries() -> None:
    assert is_assistant_chatter("You're welcome! Anything else?")
    assert is_assistant_chatter("Happy to help!")
    assert not is_assistant_chatter("You're welcome. Lima is 3 hours away.")


def test_plain_questions_and_settings() -> None:
    assert is_plain_question("What soil do tomatoes like?")
    assert is_plain_question("How do I make pancakes?")  # a generic "I"
    assert not is_plain_question("I'm allergic to nuts.")
    assert not is_plain_question("I'm baking bread tonight, what flour works best?")
    assert not is_plain_question("Answer in French from now on.")


def test_which_turns_are_compared() -> None:
    history = chat(
        ("system", "Be brief."),
        ("user", "I'm allergic to nuts."),
        ("assistant", "Noted."),
        ("user", "Who wrote Hamlet?"),
        ("assistant", "Shakespeare."),
        ("user", "thanks!"),
        ("assistant", "You're welcome!"),
    )
    alone = read_history(history, "Suggest a dessert for tonight.")
    assert alone is not None and alone.standalone
    assert alone.context == (("user", "I'm allergic to nuts."), ("assistant", "Noted."))
    back = read_history(history, "How long should it bake?")
    assert back is not None and not back.standalone
    assert [t.kind for t in back.turns] == [
        "system", "setting", "answer", "question", "answer", "chatter", "chatter"
    ]  # fmt: skip
    assert len(back.context) == 4  # everything but the system prompt and the chatter
    described = back.describe()
    assert described["final_question"].startswith("reaches back")
    assert described["turns"][5]["why"] == "left out: chatter never decides a hit"


def test_a_plain_question_on_the_same_topic_is_compared() -> None:
    history = chat(("user", "What are the best restaurants in Lima?"), ("assistant", "Central."))
    read = read_history(history, "What is a good restaurant for a date?")
    assert read is not None and read.standalone and len(read.context) == 2


@pytest.mark.parametrize(
    "message",
    [
        {"role": "tool", "content": "31C", "tool_call_id": "c1"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "weather"}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
        {"role": "user", "content": "hi", "name": "alice"},
    ],
)
def test_tools_images_and_names_keep_the_history_exact(message: dict[str, Any]) -> None:
    assert read_history([message], "What is the capital of Peru?") is None
    first = relevant([message, {"role": "user", "content": "What is the capital of Peru?"}])
    assert first.conversation is None and first.partition["history"]


def test_the_partition_leaves_out_what_does_not_decide() -> None:
    recipes = relevant(
        chat(
            ("user", "How do I make pancakes?"),
            ("assistant", "Mix flour, eggs and milk."),
            ("user", "What is the capital of Peru?"),
        )
    )
    garden = relevant(
        chat(
            ("user", "What soil do tomatoes like?"),
            ("assistant", "Loamy soil."),
            ("user", "thanks"),
            ("assistant", "Anytime!"),
            ("user", "What is the capital of Peru?"),
        )
    )
    alone = build_request(chat(("user", "What is the capital of Peru?")), model="m")
    assert recipes.context == garden.context == ()
    assert recipes.partition_key == garden.partition_key == alone.partition_key
    assert recipes.exact_key == garden.exact_key == alone.exact_key


def test_compared_turns_key_their_roles_and_texts() -> None:
    lima = relevant(
        chat(("user", "I'm going to Lima."), ("assistant", "Nice."), ("user", "Is it far?"))
    )
    cusco = relevant(
        chat(("user", "I'm going to Cusco."), ("assistant", "Nice."), ("user", "Is it far?"))
    )
    assert lima.partition_key == cusco.partition_key  # compared by meaning, not by key
    assert lima.exact_key != cusco.exact_key
    assert lima.context == (("user", "I'm going to Lima."), ("assistant", "Nice."))
    exact = build_request(
        chat(("user", "I'm going to Lima."), ("assistant", "Nice."), ("user", "Is it far?")),
        model="m",
    )
    assert exact.partition_key != lima.partition_key and exact.context == ()


def test_the_system_prompt_stays_exact() -> None:
    def ask(system: str) -> Any:
        return relevant(
            chat(
                ("system", system),
                ("user", "Hi"),
                ("assistant", "Hello!"),
                ("user", "What is the capital of Peru?"),
            )
        )

    assert ask("You are a pirate.").partition_key != ask("You are a lawyer.").partition_key


def test_the_standalone_hook_rewrites_a_dependent_question() -> None:
    seen: list[Any] = []

    def rewrite(messages: Any) -> str:
        seen.append(messages)
        return "How long does it take to fly to Lima?"

    messages = chat(
        ("user", "I'm going to Lima."),
        ("assistant", "Nice."),
        ("user", "How long does it take to get there?"),
    )
    req = relevant(messages, standalone=rewrite)
    assert req.query_text == "How long does it take to fly to Lima?"
    assert req.context == () and req.conversation is not None and req.conversation.rewritten
    assert {"role": "user", "content": "I'm going to Lima."} in req.partition["history"]
    assert len(seen) == 1 and seen[0][-1]["content"] == "How long does it take to get there?"
    standalone = relevant(
        chat(
            ("user", "Hi there"), ("assistant", "Hello!"), ("user", "What is the capital of Peru?")
        ),
        standalone=rewrite,
    )
    assert standalone.query_text == "What is the capital of Peru?"  # no rewrite asked


def test_the_hook_may_decline() -> None:
    messages = chat(("user", "I'm going to Lima."), ("assistant", "Nice."), ("user", "Is it far?"))
    req = relevant(messages, standalone=lambda m: None)
    assert req.query_text == "Is it far?" and len(req.context) == 2


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("My monstera is losing leaves since I moved it to a dry room.",
         "My monstera is losing leaves since I moved it to a cold room."),
        ("I'm planning a trip to Lisbon in July.", "I'm planning a trip to Lisbon next week."),
        ("Every night my baby is awake at 4 am.", "Every night my toddler is awake at 4 am."),
    ],
)  # fmt: skip
def test_a_slot_swap_is_a_different_detail(a: str, b: str) -> None:
    assert slot_swap(a, b) is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("I'm planning a trip to Lisbon next week.", "Next week I am travelling to Lisbon."),
        ("My interview with a hospital is on Tuesday.",
         "I have a job interview at a hospital on Tuesday."),
    ],
)  # fmt: skip
def test_a_rewording_is_no_slot_swap(a: str, b: str) -> None:
    assert slot_swap(a, b) is None


def test_history_setting() -> None:
    assert CacheConfig().history == "relevant"
    assert CacheConfig(history="exact").history == "exact"
    assert CacheConfig.from_env({"TIERED_CACHE_HISTORY": "exact"}).history == "exact"
    with pytest.raises(ConfigurationError, match="history='all': exact or relevant"):
        CacheConfig(history="all")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="standalone"):
        CacheConfig(standalone="rewrite")  # type: ignore[arg-type]


def test_the_cache_builds_requests_with_its_history_setting() -> None:
    from tiered_cache.request import request_for

    messages = chat(
        ("user", "How do I make pancakes?"),
        ("assistant", "Mix."),
        ("user", "What is the capital of Peru?"),
    )
    exact = request_for(CacheConfig(history="exact"), Normalizer(), messages, "m")
    relevant_ = request_for(CacheConfig(), Normalizer(), messages, "m")
    assert exact.conversation is None and exact.partition["history"]
    assert relevant_.conversation is not None and relevant_.partition["history"] == []


def _agent_step(question: str, result: str, call_id: str = "call_abc") -> list[dict[str, Any]]:
    """An agent's second step: the question, the model's tool call, the tool's result."""
    call = {"id": call_id, "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    return [
        {"role": "system", "content": "You answer with the tools you have."},
        {"role": "user", "content": question},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": result, "tool_call_id": call_id},
    ]


def test_an_agents_later_step_asks_its_users_question() -> None:
    step = relevant(_agent_step("What's the weather in Paris?", "31°C, sunny"))
    assert step.query_text == "What's the weather in Paris?"
    steps = step.partition["final_turn"]["tool_steps"]
    assert [m["role"] for m in steps] == ["assistant", "tool"]
    # The calls and results are exact: another result is another partition...
    other = relevant(_agent_step("What's the weather in Paris?", "4°C, rain"))
    assert other.partition_key != step.partition_key
    # ...while a reworded question with the same calls and results meets it by meaning, and a
    # replay with new call ids keys the same.
    reworded = relevant(_agent_step("How is the weather in Paris?", "31°C, sunny"))
    assert reworded.partition_key == step.partition_key
    assert reworded.exact_key != step.exact_key
    replay = relevant(_agent_step("What's the weather in Paris?", "31°C, sunny", "call_xyz"))
    assert replay.exact_key == step.exact_key


def test_an_agents_step_is_exact_with_exact_history() -> None:
    step = build_request(_agent_step("What's the weather in Paris?", "31°C"), model="m",
                         history="exact")  # fmt: skip
    assert step.query_text is None


def test_a_tool_result_after_other_turns_is_no_agent_step() -> None:
    # A tool result answering an assistant turn that called no tool: nothing reads it.
    messages = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "content": "31°C", "tool_call_id": "c1"},
    ]
    assert relevant(messages).query_text is None
