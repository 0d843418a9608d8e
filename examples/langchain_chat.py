"""A LangChain chat app on the embedded cache: repeats and paraphrases never reach the model.

    python examples/langchain_chat.py

Runs offline: a fake chat model stands for ChatOpenAI(...) and counts its calls.
"""

from __future__ import annotations

from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from langchain_tiered_cache import TieredLLMCache

SYSTEM = SystemMessage("You are a concise geography tutor.")


def main() -> None:
    cache = TieredLLMCache()  # embedded: exact + semantic tiers in this process
    cache.core.wait_ready(120)  # the embedding model loads in the background: wait at start-up
    set_llm_cache(cache)
    model = FakeListChatModel(responses=["Paris.", "Madrid.", "Berlin."])
    questions = [
        "What is the capital of France?",  # the model answers
        "What is the capital of France?",  # exact repeat: served by the cache
        "What's the capital city of France?",  # paraphrase: served by the semantic tier
        "What is the capital of Spain?",  # another question: the model answers
    ]
    for question in questions:
        answer = model.invoke([SYSTEM, HumanMessage(question)])
        served = answer.response_metadata.get("tiered_cache")
        where = f"cache ({served['tier']})" if served else "model"
        print(f"{question!r:40} -> {answer.content!r:10} from the {where}")
    stats = cache.stats()
    print(f"hits: {stats['exact_hits']} exact, {stats['semantic_hits']} semantic; ", end="")
    print(f"misses: {stats['misses']}")
    set_llm_cache(None)


if __name__ == "__main__":
    main()
