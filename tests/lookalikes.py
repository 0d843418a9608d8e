"""Look-alike requests that must never share an answer, and paraphrases that must.

Framework-neutral: each request is a list of turns; a turn is (role, text) plus, optionally, an
image (a data URL or an https URL) and a speaker's name. The LangChain and LlamaIndex suites turn
them into their own message types and check, through a fake model that counts its calls, that the
second request of every look-alike pair reaches the model and that of every paraphrase pair
does not.
"""
# ruff: noqa: E501  (a table of pairs: one pair a line reads best)

from __future__ import annotations

import base64
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Turn:
    role: str  # "system", "user", "assistant"
    text: str
    image: str | None = None  # a data URL or an https URL
    name: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    first: tuple[Turn, ...]
    second: tuple[Turn, ...]
    kind: str = field(default="")


def png(label: str) -> str:
    """A distinct data URL per label (the bytes differ; no decoder ever looks at them)."""
    raw = b"\x89PNG\r\n\x1a\n" + label.encode() * 8
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def ask(text: str, **extra: str | None) -> tuple[Turn, ...]:
    return (Turn("user", text, **extra),)  # type: ignore[arg-type]


def pair(kind: str, id: str, a: str, b: str) -> Case:
    return Case(id, ask(a), ask(b), kind)


RAG = (
    "Use the following pieces of retrieved context to answer the question. If you don't know "
    "the answer, just say that you don't know.\nContext: Madrid is the capital of Spain. Berlin "
    "is the capital of Germany. Paris is the capital of France.\nQuestion: {q}\nAnswer:"
)
LLAMA_QA = (
    "Context information is below.\n---------------------\n{context}\n---------------------\n"
    "Given the context information and not prior knowledge, answer the query.\nQuery: {q}\n"
    "Answer: "
)
CONDENSE = (
    "Given a conversation (between Human and Assistant) and a follow up message from Human, "
    "rewrite the message to be a standalone question that captures all relevant context from "
    "the conversation.\n\n<Chat History>\nuser: Tell me about Spain.\nassistant: Spain is a "
    "country in Europe.\n\n<Follow Up Message>\n{q}\n\n<Standalone question>\n"
)
FLATTENED = (
    "system: Use the context information below to assist the user.\n--------------------\n"
    "Madrid is the capital of Spain. Berlin is the capital of Germany.\n--------------------\n"
    "user: {q}\nassistant: "
)
DOC_A = "The quarterly meeting is on Monday at 10am in room 4."
DOC_B = "The quarterly meeting is on Friday at 3pm in room 9."

LOOKALIKES: list[Case] = [
    # Images and other non-text parts of the final turn
    Case("image-cat-dog", ask("What is in this image?", image=png("cat")),
         ask("What is in this image?", image=png("dog")), "image"),
    Case("image-url", ask("Describe this photo.", image="https://example.com/a.jpg"),
         ask("Describe this photo.", image="https://example.com/b.jpg"), "image"),
    Case("image-vs-none", ask("What is in this image?", image=png("cat")),
         ask("What is in this image?"), "image"),
    Case("image-paraphrase-other-image", ask("What animal is in this picture?", image=png("1")),
         ask("Which animal is shown in this picture?", image=png("2")), "image"),
    # The speaker
    Case("name-alice-bob", ask("What is my name?", name="alice"),
         ask("What is my name?", name="bob"), "name"),
    Case("name-vs-none", ask("What is my account balance?", name="alice"),
         ask("What is my account balance?"), "name"),
    Case("name-paraphrase", ask("What's my order status?", name="alice"),
         ask("What is the status of my order?", name="bob"), "name"),
    # Context pasted into the turn
    pair("rag", "rag-spain-germany", RAG.format(q="What is the capital of Spain?"),
         RAG.format(q="What is the capital of Germany?")),
    pair("rag", "rag-spain-france", RAG.format(q="Which city is the capital of Spain?"),
         RAG.format(q="Which city is the capital of France?")),
    pair("rag", "llama-qa-other-context",
         LLAMA_QA.format(context=DOC_A, q="When is the quarterly meeting?"),
         LLAMA_QA.format(context=DOC_B, q="When is the quarterly meeting?")),
    pair("rag", "llama-qa-other-question",
         LLAMA_QA.format(context=DOC_A, q="When is the quarterly meeting?"),
         LLAMA_QA.format(context=DOC_A, q="Where is the quarterly meeting?")),
    pair("rag", "condense-follow-up", CONDENSE.format(q="What is its capital?"),
         CONDENSE.format(q="What is its population?")),
    pair("rag", "flattened-context-chat", FLATTENED.format(q="What is the capital of Spain?"),
         FLATTENED.format(q="What is the capital of Germany?")),
    pair("rag", "context-without-labels",
         f"Based on the context below, answer briefly. {DOC_A} When is it?",
         f"Based on the context below, answer briefly. {DOC_B} When is it?"),
    # Earlier turns: tool results, facts the user gave, the system prompt
    Case("history-tool-result",
         (Turn("user", "What's the weather in Paris?"), Turn("assistant", "It is 31°C and sunny."),
          Turn("user", "Should I wear a jacket?")),
         (Turn("user", "What's the weather in Paris?"), Turn("assistant", "It is 4°C and raining."),
          Turn("user", "Should I wear a jacket?")), "history"),
    Case("history-user-fact",
         (Turn("user", "I am vegan."), Turn("assistant", "Noted."),
          Turn("user", "Suggest a dinner recipe.")),
         (Turn("user", "I eat everything."), Turn("assistant", "Noted."),
          Turn("user", "Suggest a dinner recipe.")), "history"),
    Case("system-persona",
         (Turn("system", "You are a pirate."), Turn("user", "How do I greet someone?")),
         (Turn("system", "You are a lawyer."), Turn("user", "How do I greet someone?")), "system"),
    # Negation
    pair("negation", "neg-gluten", "Which foods contain gluten?", "Which foods don't contain gluten?"),
    pair("negation", "neg-ibuprofen", "Should I take ibuprofen with food?",
         "Should I not take ibuprofen with food?"),
    pair("negation", "neg-cats", "Why do cats purr?", "Why don't cats purr?"),
    pair("negation", "neg-safe", "Is it safe to eat raw eggs?", "Is it never safe to eat raw eggs?"),
    # Numbers and units
    pair("number", "num-kg", "How do I lose 5 kg in a month?", "How do I lose 10 kg in a month?"),
    pair("number", "num-percent", "What is 15% of 200?", "What is 20% of 200?"),
    pair("number", "num-grams", "How many calories are in 100 grams of rice?",
         "How many calories are in 200 grams of rice?"),
    pair("number", "num-words", "Give me three tips for better sleep.",
         "Give me five tips for better sleep."),
    # Versions and years
    pair("version", "ver-python", "What's new in Python 3.12?", "What's new in Python 3.11?"),
    pair("version", "ver-react", "How do I upgrade to React 18?", "How do I upgrade to React 17?"),
    pair("version", "ver-windows", "Is Windows 10 still supported?", "Is Windows 11 still supported?"),
    pair("year", "year-world-cup", "Who won the World Cup in 2018?", "Who won the World Cup in 2022?"),
    # Entities
    pair("entity", "ent-australia-austria", "What is the capital of Australia?",
         "What is the capital of Austria?"),
    pair("entity", "ent-ceo", "Who is the CEO of Apple?", "Who is the CEO of Microsoft?"),
    pair("entity", "ent-tower", "How tall is the Eiffel Tower?", "How tall is the Empire State Building?"),
    pair("entity", "ent-population", "What is the population of Canada?",
         "What is the population of Mexico?"),
    pair("entity", "ent-author", "Who wrote Pride and Prejudice?", "Who wrote War and Peace?"),
    # Operand order
    pair("order", "order-miles-km", "Convert 5 miles to kilometers", "Convert 5 kilometers to miles"),
    pair("order", "order-temperature", "Convert 100 Fahrenheit to Celsius",
         "Convert 100 Celsius to Fahrenheit"),
    pair("order", "order-translate", "Translate 'good morning' from English to French",
         "Translate 'good morning' from French to English"),
    pair("order", "order-list-tuple", "How do I convert a list to a tuple in Python?",
         "How do I convert a tuple to a list in Python?"),
    pair("order", "order-migrate", "How do I migrate from MySQL to PostgreSQL?",
         "How do I migrate from PostgreSQL to MySQL?"),
    pair("order", "order-json-yaml", "Convert JSON to YAML", "Convert YAML to JSON"),
    pair("order", "order-faster", "Is Python faster than Java?", "Is Java faster than Python?"),
    # Operand order of non-commutative operators (same numbers, another answer)
    pair("operator", "op-minus", "What is 10 minus 4?", "What is 4 minus 10?"),
    pair("operator", "op-divided-by", "What is 12 divided by 3?", "What is 3 divided by 12?"),
    pair("operator", "op-percentage-of", "What is 30 as a percentage of 120?",
         "What is 120 as a percentage of 30?"),
    pair("operator", "op-mod", "What is 17 mod 5?", "What is 5 mod 17?"),
    pair("operator", "op-dash", "Calculate 100 - 37", "Calculate 37 - 100"),
    pair("operator", "op-slash", "What is 81 / 9?", "What is 9 / 81?"),
    pair("operator", "op-subtract-from", "Subtract 15 from 40.", "Subtract 40 from 15."),
    pair("operator", "op-over", "What is 3 over 4 as a decimal?", "What is 4 over 3 as a decimal?"),
    # What is asked
    pair("question", "qtype-why-when", "Why is the sky blue?", "When is the sky blue?"),
    pair("question", "qtype-many-do", "How many people live in Tokyo?", "How do people live in Tokyo?"),
    pair("polarity", "polarity-remote", "What are the advantages of remote work?",
         "What are the disadvantages of remote work?"),
    # Opposite meaning without a negation word (the contrast and role vetoes)
    pair("antonym", "antonym-pool", "Is the swimming pool open on public holidays?",
         "Is the swimming pool closed on public holidays?"),
    pair("antonym", "antonym-helmet", "Are bike helmets compulsory in Australia?",
         "Are bike helmets optional in Australia?"),
    pair("affix", "affix-tap-water", "Is tap water safe to drink in Mexico?",
         "Is tap water unsafe to drink in Mexico?"),
    pair("affix", "affix-train-ticket", "Is my advance train ticket refundable?",
         "Is my advance train ticket non-refundable?"),
    pair("direction", "direction-contacts", "How do I move contacts from my iPhone to my Android phone?",
         "How can I copy the contacts on my Android phone onto my iPhone?"),
    pair("direction", "direction-export-import", "How do I export my calendar to an ICS file?",
         "How do I import an ICS file into my calendar?"),
    pair("boundary", "boundary-bus", "Do children under 5 travel free on London buses?",
         "Do children over 5 travel free on London buses?"),
    pair("time", "time-bakery", "Is the bakery open at 6am?", "Is the bakery open at 6pm?"),
    pair("time", "time-museum", "Are the city museums free on weekdays?",
         "Are the city museums free on weekends?"),
    pair("qualifier", "qualifier-marathon", "What is the world record for the men's marathon?",
         "What is the world record for the women's marathon?"),
    pair("qualifier", "qualifier-platform", "How do I update apps on iOS?",
         "How do I update apps on Android?"),
]  # fmt: skip

PARAPHRASES: list[Case] = [
    pair("plain", "para-capital", "What is the capital of France?",
         "What's the capital city of France?"),
    pair("plain", "para-photosynthesis", "Explain the basics of photosynthesis to a beginner.",
         "Explain the basics of photosynthesis to a total beginner."),
    pair("plain", "para-weight", "How do I lose 5 kg in a month?",
         "How can I lose 5 kg in a month?"),
    pair("order", "para-convert", "How do I convert 5 miles to kilometers?",
         "How can I convert 5 miles to kilometers?"),
    pair("operator", "para-divided-by", "What is 12 divided by 3?", "What's 12 divided by 3?"),
    pair("operator", "para-power", "What is 2 to the power of 5?", "What's 2 to the power of 5?"),
    pair("rag", "para-rag", RAG.format(q="What is the capital of France?"),
         RAG.format(q="What's the capital city of France?")),
    pair("rag", "para-llama-qa", LLAMA_QA.format(context=DOC_A, q="When is the quarterly meeting?"),
         LLAMA_QA.format(context=DOC_A, q="When is the quarterly meeting taking place?")),
    Case("para-name", ask("What is the capital of France?", name="alice"),
         ask("What's the capital city of France?", name="alice"), "name"),
    Case("para-image", ask("What is the capital of France?", image=png("map")),
         ask("What's the capital city of France?", image=png("map")), "image"),
    # Near repeats: the same question retyped
    pair("near-repeat", "near-typo", "How do I reset the password of my router?",
         "How do I reset the pasword of my routr?"),
    pair("near-repeat", "near-case", "What is the boiling point of water at altitude?",
         "what is the boiling point of water at altitude"),
    pair("near-repeat", "near-filler", "What is the boiling point of water at altitude?",
         "um, quick question: what is the boiling point of watr at altitude, please"),
]  # fmt: skip


def chat(*turns: tuple[str, str]) -> tuple[Turn, ...]:
    return tuple(Turn(role, text) for role, text in turns)


# history="relevant": conversations whose final user message is the same, and whose history
# changes the answer (each trap kind) or does not (rewording, other topics, chatter).
HISTORY_LOOKALIKES: list[Case] = [
    Case("history-context-swap",
         chat(("user", "I'm planning a trip to Lima next month."), ("assistant", "Lima is lovely then."),
              ("user", "How long does it take to get there from Madrid?")),
         chat(("user", "I'm planning a trip to Cusco next month."), ("assistant", "Cusco is lovely then."),
              ("user", "How long does it take to get there from Madrid?")), "context_swap"),
    Case("history-context-swap-in-the-answer",
         chat(("user", "Which city in Peru should I visit?"), ("assistant", "Visit Lima."),
              ("user", "How do I get there?")),
         chat(("user", "Which city in Peru should I visit?"), ("assistant", "Visit Arequipa."),
              ("user", "How do I get there?")), "context_swap"),
    Case("history-detail-swap-allergy",
         chat(("user", "I'm allergic to peanuts."), ("assistant", "Noted."),
              ("user", "Suggest a dessert for tonight.")),
         chat(("user", "I'm allergic to shellfish."), ("assistant", "Noted."),
              ("user", "Suggest a dessert for tonight.")), "detail_swap"),
    Case("history-detail-swap-amount",
         chat(("user", "I want to borrow $5,000 to buy a car."), ("assistant", "That is a common loan."),
              ("user", "What would the monthly payment be over five years?")),
         chat(("user", "I want to borrow $20,000 to buy a car."), ("assistant", "That is a common loan."),
              ("user", "What would the monthly payment be over five years?")), "detail_swap"),
    Case("history-detail-swap-day",
         chat(("user", "My flight leaves Boston on Monday."), ("assistant", "Noted."),
              ("user", "Will it be crowded that day?")),
         chat(("user", "My flight leaves Boston on Friday."), ("assistant", "Noted."),
              ("user", "Will it be crowded that day?")), "detail_swap"),
    Case("history-intent-flip-length",
         chat(("user", "Write a short note about Lisbon."), ("assistant", "Here is a draft."),
              ("user", "Make it longer."), ("assistant", "Here is the new version."),
              ("user", "Can you also add a title to it?")),
         chat(("user", "Write a short note about Lisbon."), ("assistant", "Here is a draft."),
              ("user", "Make it shorter."), ("assistant", "Here is the new version."),
              ("user", "Can you also add a title to it?")), "intent_flip"),
    Case("history-intent-flip-language",
         chat(("user", "Write a welcome message for our guests."), ("assistant", "Here is a draft."),
              ("user", "Translate it to French."), ("assistant", "Here is the translation."),
              ("user", "Now make it more formal.")),
         chat(("user", "Write a welcome message for our guests."), ("assistant", "Here is a draft."),
              ("user", "Translate it to Spanish."), ("assistant", "Here is the translation."),
              ("user", "Now make it more formal.")), "intent_flip"),
    Case("history-definite-population",
         chat(("user", "What is the capital of France?"), ("assistant", "Paris."),
              ("user", "What is the population?")),
         chat(("user", "What is the capital of Germany?"), ("assistant", "Berlin."),
              ("user", "What is the population?")), "context_swap"),
    Case("history-definite-captain",
         chat(("user", "Who won the 2018 World Cup?"), ("assistant", "France."),
              ("user", "Who was the captain?")),
         chat(("user", "Who won the 2014 World Cup?"), ("assistant", "Germany."),
              ("user", "Who was the captain?")), "context_swap"),
    Case("history-definite-author",
         chat(("user", "Recommend a sci-fi novel."), ("assistant", "Dune."),
              ("user", "Who is the author?")),
         chat(("user", "Recommend a sci-fi novel."), ("assistant", "Neuromancer."),
              ("user", "Who is the author?")), "context_swap"),
    Case("history-weather-answer",
         chat(("user", "What's the weather in Paris?"), ("assistant", "It is 31°C and sunny."),
              ("user", "Should I wear a jacket?")),
         chat(("user", "What's the weather in Paris?"), ("assistant", "It is 4°C and raining."),
              ("user", "Should I wear a jacket?")), "detail_swap"),
]  # fmt: skip

HISTORY_PARAPHRASES: list[Case] = [
    Case("history-reworded",
         chat(("user", "I'm planning a trip to Lisbon next week."), ("assistant", "Great choice!"),
              ("user", "How long does it take to get there from Madrid?")),
         chat(("user", "Next week I am travelling to Lisbon."), ("assistant", "Great choice!"),
              ("user", "How long does it take to get there from Madrid?")), "reworded"),
    Case("history-irrelevant",
         chat(("user", "How do I make pancakes?"), ("assistant", "Mix flour, eggs and milk."),
              ("user", "What is the capital of Peru?")),
         chat(("user", "What soil do tomatoes like?"), ("assistant", "Loose, well-drained soil."),
              ("user", "Who wrote Hamlet?"), ("assistant", "William Shakespeare."),
              ("user", "What is the capital of Peru?")), "irrelevant"),
    Case("history-chatter",
         chat(("user", "I'm renting a studio apartment for $900 a month."),
              ("assistant", "That is about average."), ("user", "Can I negotiate it down?")),
         chat(("user", "hi"), ("assistant", "Hello! How can I help you today?"),
              ("user", "I'm renting a studio apartment for $900 a month."),
              ("assistant", "That is about average."), ("user", "thanks!"),
              ("assistant", "You're welcome!"), ("user", "Can I negotiate it down?")), "chatter"),
]  # fmt: skip
