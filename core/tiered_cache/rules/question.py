"""Find the question in a final user turn; everything around it must match exactly.

A RAG or chat-engine prompt puts a long shared context around a short question ("Context: ...
Question: What is the capital of Spain?"). Embedded whole, two such prompts look alike whatever
they ask, so the semantic tier compares only the question and the rest of the text (template and
context, the question cut out) goes into the partition. When a turn is plainly templated but no
question can be isolated, the turn is exact-only: a miss is better than a wrong answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Labels that introduce the question (the last one in a turn wins: templates put it last).
QUESTION_LABELS = (
    "question",
    "query",
    "q",
    "user question",
    "user query",
    "user input",
    "input",
    "user",
    "human",
    "follow up message",
    "follow-up message",
    "follow up question",
    "follow-up question",
)
# Labels that start something else: they end a question and mark the text as a template.
OTHER_LABELS = (
    "context",
    "context information",
    "contexts",
    "documents",
    "document",
    "docs",
    "sources",
    "source",
    "passages",
    "passage",
    "excerpts",
    "excerpt",
    "information",
    "background",
    "instruction",
    "instructions",
    "answer",
    "refined answer",
    "helpful answer",
    "a",
    "assistant",
    "ai",
    "system",
    "chat history",
    "history",
    "conversation",
    "examples",
    "example",
    "standalone question",
    "response",
    "output",
    "summary",
)


def _alternatives(labels: tuple[str, ...]) -> str:
    return "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))


_ALL = _alternatives(QUESTION_LABELS + OTHER_LABELS)
# "Label:" at the start or after whitespace, "<Label>" and "</Label>" anywhere.
_LABEL = re.compile(
    rf"(?:(?:^|(?<=\s))(?P<colon>{_ALL})\s*:)|(?:<\s*(?P<close>/)?\s*(?P<tag>{_ALL})\s*>)",
    re.IGNORECASE,
)
_QUESTIONS = frozenset(QUESTION_LABELS)
# Signs of pasted context with no label: separator rules and the usual RAG phrasing.
_CONTEXT_SIGNS = re.compile(
    r"-{5,}|={5,}|_{5,}|\bcontext information\b|\b(?:given|based on|using|use) the "
    r"(?:following |above |below |provided )?(?:context|documents?|passages?|sources?)\b|"
    r"\bretrieved context\b|\brelevant documents\b",
    re.IGNORECASE,
)

PLACEHOLDER = "{question}"


@dataclass(frozen=True)
class Question:
    """`text` is compared by meaning; `template` (the turn with the question cut out, "" for a
    turn that is only a question) must match exactly."""

    text: str
    template: str


def isolate_question(turn: str) -> Question | None:
    """The question of a user turn, or None when the turn is templated and no question stands
    apart from its context (such a turn is cached exact-only)."""
    labels = list(_LABEL.finditer(turn))
    if not labels:
        if _CONTEXT_SIGNS.search(turn):
            return None
        return Question(turn.strip(), "")
    question = None
    for match in reversed(labels):
        if match.group("close") is None and _label(match) in _QUESTIONS:
            question = match
            break
    if question is None:
        return None
    end = next((m.start() for m in labels if m.start() >= question.end()), len(turn))
    text = turn[question.end() : end].strip()
    if not text or _CONTEXT_SIGNS.search(text):
        return None
    return Question(text, f"{turn[: question.end()]} {PLACEHOLDER} {turn[end:]}")


def _label(match: re.Match[str]) -> str:
    return " ".join((match.group("colon") or match.group("tag")).lower().split())
