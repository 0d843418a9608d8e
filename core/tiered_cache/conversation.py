"""Which earlier turns of a conversation can change the answer to its final question.

With `history="exact"` every earlier turn is in the partition. With `history="relevant"` the
history is read turn by turn (no I/O here, pure rules):

- **chatter** ("thanks", "ok", greetings, and the assistant's reply to them) never decides a hit;
- a **setting** turn (a user turn that is not a plain question: a fact, a constraint, an
  instruction, anything in the first person) can change any later answer: it is always compared,
  with the assistant's reply to it;
- a **plain question** (a user turn ending in "?", no first person) and its answer matter only
  to a final question that reaches back;
- the final question **reaches back** when it holds a pronoun or an ellipsis ("it", "that one",
  "there", "the same", "what about ...", "and for ...", "shorter", "again", a question of one or
  two words...): then every earlier turn but chatter is compared.

The compared turns (`context`) must match the stored conversation's turn against turn, by
meaning, with the verifier of the single-question path (`context_matches`); their roles are in
the partition, so two conversations with a different number of compared turns never meet.
Anything the rules cannot read (tool calls and results, images, files, a speaker's name, other
roles) keeps the whole history exact: when unsure, exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .rules.turns import (
    FUNCTION_WORDS,
    QUESTION_WORDS,
    ContextCheck,
    context_matches,
    slot_swap,
    tokens,
)

HistoryMode = Literal["exact", "relevant"]
HISTORY_MODES: tuple[str, ...] = ("exact", "relevant")

Standalone = Callable[[Sequence[Mapping[str, Any]]], "str | None"]
"""An app's rewrite of a dependent final question into a standalone one (its own cheap model,
a condense-question step): given the normalized messages, the rewrite or None."""

# -- the rules, as data -------------------------------------------------------------------------
_CHATTER_WORDS = frozenset(
    """thanks thank thx ty you so much very a lot ok okay k kk great cool nice good awesome
    perfect excellent wonderful amazing got it hi hello hey hiya greetings morning afternoon
    evening night bye goodbye cheers appreciate appreciated that's thats that helps helped
    helpful alright all right sounds wow lol haha i see understood noted fine brilliant
    sweet gotcha there""".split()  # noqa: SIM905
)
# Words that answer something (a yes to "shall I make it vegan?" changes the next answer).
_CONSENT = frozenset(
    ["yes", "yeah", "yep", "yup", "sure", "no", "nope", "please", "go", "ahead", "do"]
)
_ASSISTANT_CHATTER = re.compile(
    r"^(?:(?:you'?re|you are) (?:very |most )?welcome|(?:i'?m )?glad (?:i could|to) help|happy to "
    r"help|my pleasure|no problem|any ?time|hello|hi|hey|good (?:morning|afternoon|evening)|"
    r"how (?:can|may) i (?:help|assist)(?: you)?(?: today)?|is there anything else[^.?!]*|"
    r"let me know if (?:you need|there is) anything else|anything else[^.?!]*|great|sure|"
    r"of course|have a (?:nice|great|good) (?:day|one)|goodbye|bye)[\s!.,?]*"
    r"(?:[\s!.,?]+|$)",
    re.IGNORECASE,
)
# "How do I ...?" asks how anyone does something: its "I" says nothing about the speaker.
_GENERIC_I = re.compile(
    r"^(?:how|what|where|when|why|which) (?:do|can|could|should|would|must|shall) i\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'd|i'll|my|mine|me|we|we're|our|ours|us)\b")
# Cues that a final question reaches back (pronouns, deixis, ellipsis, comparatives of an
# earlier answer, "again"). Calling a standalone question dependent costs a hit; the reverse
# serves a wrong answer: the list leans wide.
_REACHES_BACK = re.compile(
    r"\b(?:it|its|it's|itself|that|this|these|those|they|them|their|theirs|there|then|he|she|"
    r"him|her|his|hers|one|ones|same|such|former|latter|above|previous|previously|earlier|"
    r"before|again|also|too|instead|else|another|other|more|less|fewer|rest|remaining|next|"
    r"last|first|second|third|both|either|neither|each|which|here|so|said|mentioned|"
    r"shorter|longer|simpler|easier|harder|cheaper|faster|slower|bigger|smaller|better|worse|"
    r"formal|informal|casual|briefer|brief|summarize|summarise|rephrase|rewrite|reword|"
    r"translate|expand|elaborate|continue|example|examples|nearby|near|around|local|locally)\b"
    r"|^(?:and|but|or|so|what about|how about|what if|and for|and in|and what|and how|why not|"
    r"ok so|okay so)\b"
    # a verb left without its object at the end: "What's the best time to visit?"
    r"|\b(?:visit|go|get|stay|eat|buy|see|do|try|bring|pack|wear|book|order|use|cook|make|"
    r"take|pay|cost|costs|start|begin|leave|arrive|open|close)\s*[?.!]*$",
    re.IGNORECASE,
)
# "Is there a cure for ...?" asks whether something exists: its "there" points nowhere.
_EXISTENTIAL = re.compile(r"\b(?:is|are|was|were|be|been) there\b", re.IGNORECASE)
SHORTQUESTION_WORDS = 2
"""A final question of this many words or fewer is read as an ellipsis ("In Paris?")."""


def content_words(text: str) -> frozenset[str]:
    """The words of `text` that name something (plural "s" folded): its topic."""
    return frozenset(
        t[:-1] if t.endswith("s") and len(t) > 3 else t
        for t in tokens(text)
        if len(t) > 2 and t not in FUNCTION_WORDS and t not in QUESTION_WORDS
    )


def is_chatter(text: str, previous_assistant: str | None = None) -> bool:
    """A user turn that carries no content: thanks, acknowledgements, greetings. Never one that
    could answer the assistant's question ("ok" to "shall I make it vegan?")."""
    words = tokens(text)
    if not words or any(w in _CONSENT for w in words):
        return False
    if not all(w in _CHATTER_WORDS for w in words):
        return False
    return not (
        previous_assistant
        and previous_assistant.rstrip().endswith("?")
        and not is_assistant_chatter(previous_assistant)
    )


def is_assistant_chatter(text: str) -> bool:
    """An assistant turn made only of pleasantries ("You're welcome! Anything else?")."""
    rest = text.strip()
    while rest:
        match = _ASSISTANT_CHATTER.match(rest)
        if match is None or match.end() == 0:
            return False
        rest = rest[match.end() :].strip()
    return True


def is_plain_question(text: str) -> bool:
    """A user question about the world, not about the user: what it says sets no context."""
    stripped = text.strip()
    rest = _GENERIC_I.sub("", stripped.lower())
    return stripped.endswith("?") and _FIRST_PERSON.search(rest) is None


def reaches_back(question: str) -> str | None:
    """The cue by which `question` reaches back to earlier turns, or None when it stands alone.
    A question about the speaker ("Should I wear a jacket?") reaches back too: what the
    conversation said about the speaker, the weather, the plan, answers it."""
    if len(tokens(question)) <= SHORTQUESTION_WORDS:
        return "a question of two words or fewer"
    person = _FIRST_PERSON.search(_GENERIC_I.sub("", question.strip().lower()))
    if person is not None:
        return f"{person.group(0)!r} (the speaker)"
    match = _REACHES_BACK.search(_EXISTENTIAL.sub("exists", question.strip()))
    if match is not None:
        return repr(match.group(0).lower())
    definite = unanchored_definite(question)
    return None if definite is None else f"{definite!r} (nothing named says which)"


# "the population?", "the captain?", "the museum open...": one noun after "the" and then the end
# of the question or its verb, what the conversation chose. "The speed of light", "the common
# cold" say which themselves (a complement, a modifier).
_BARE_DEFINITE = re.compile(
    r"\bthe\s+([^\W\d_][\w'-]*)(?=\s*[?.!]*$|\s+(?:is|are|was|were|do|does|did|has|have|had|"
    r"open|opens|close|closes|start|starts|end|ends|cost|costs|like|look|looks|work|works|take|"
    r"takes|mean|means)\b)",
    re.IGNORECASE,
)
_ANCHOR = re.compile(r"\d|[\"\u201c]|(?<=\S\s)[A-Z][\w'-]*|\b[A-Z]{2,}\b")
# Capitalized words that name no subject: a day or a month says when, not which.
_NOT_ANCHORS = re.compile(
    r"\b(?:Mondays?|Tuesdays?|Wednesdays?|Thursdays?|Fridays?|Saturdays?|Sundays?|January|"
    r"February|March|April|May|June|July|August|September|October|November|December|I|I'm|I've|"
    r"I'd|I'll)\b"
)
# The things there is one of: "the moon" needs no earlier turn to say which.
_UNIQUE = frozenset(
    ["earth", "moon", "sun", "world", "internet", "universe", "sky", "web", "atmosphere", "equator"]
)


def unanchored_definite(question: str) -> str | None:
    """A definite description ("the population", "the captain") in a question that names
    nothing of its own (no name, acronym, number or quote): the conversation said which one."""
    text = question.strip()
    if _ANCHOR.search(_NOT_ANCHORS.sub("x", text)):
        return None
    for match in _BARE_DEFINITE.finditer(text):
        if match.group(1).lower() not in _UNIQUE:
            return match.group(0).lower()
    return None


# -- the analysis --------------------------------------------------------------------------------
TurnKind = Literal["system", "chatter", "setting", "question", "answer", "opening"]


@dataclass(frozen=True)
class ReadTurn:
    """One earlier turn as the rules read it: its kind and whether it is compared."""

    index: int
    role: str
    text: str
    kind: TurnKind
    compared: bool


@dataclass(frozen=True)
class Conversation:
    """What `history="relevant"` made of a conversation's earlier turns."""

    standalone: bool
    cue: str | None
    """The cue by which the final question reaches back (None: it stands alone)."""
    turns: tuple[ReadTurn, ...]
    rewritten: bool = False
    """The app's `standalone=` hook rewrote the question; the turns it drew on stay exact."""

    @property
    def context(self) -> tuple[tuple[str, str], ...]:
        """The compared turns, (role, text), in order."""
        return tuple((t.role, t.text) for t in self.turns if t.compared)

    def describe(self) -> dict[str, Any]:
        """For `explain()`: which turns are compared, which are left out, and why."""
        return {
            "mode": "relevant",
            "final_question": "stands alone" if self.standalone else f"reaches back: {self.cue}",
            "rewritten": self.rewritten,
            "turns": [
                {"index": t.index, "role": t.role, "kind": t.kind, "compared": t.compared,
                 "why": self._why(t)}
                for t in self.turns
            ],
        }  # fmt: skip

    def _why(self, turn: ReadTurn) -> str:
        if turn.kind == "system":
            return "exact: in the partition"
        if turn.kind == "chatter":
            return "left out: chatter never decides a hit"
        if turn.kind == "opening":
            return "compared: the assistant's opening"
        if turn.kind == "setting":
            return "compared: a fact or an instruction can change any later answer"
        if turn.kind == "answer":
            return "compared with the turn it answers" if turn.compared else "left out"
        if not self.standalone:
            return "compared: the final question reaches back"
        if turn.compared:
            return "compared: a plain question on the final question's topic"
        return "left out: a plain question on another topic, and the final one stands alone"


def readable(message: Mapping[str, Any]) -> str | None:
    """The text of a history message the rules can read, or None (tool calls and results,
    images, files, names: such a history stays exact)."""
    if message.get("role") not in ("system", "user", "assistant"):
        return None
    if set(message) - {"role", "content"}:
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    return None


def read_history(history: Sequence[Mapping[str, Any]], question: str) -> Conversation | None:
    """Read the earlier turns (normalized messages) against the final `question`; None when
    some turn cannot be read and the history must stay exact."""
    texts: list[str] = []
    for message in history:
        text = readable(message)
        if text is None:
            return None
        texts.append(text)
    cue = reaches_back(question)
    standalone = cue is None
    kinds: list[TurnKind] = []
    previous_assistant: str | None = None
    last_user_kind: TurnKind | None = None
    for message, text in zip(history, texts, strict=True):
        role = message["role"]
        kind: TurnKind
        if role == "system":
            kind = "system"
        elif role == "user":
            if is_chatter(text, previous_assistant):
                kind = "chatter"
            elif is_plain_question(text):
                kind = "question"
            else:
                kind = "setting"
            last_user_kind = kind
        else:
            if last_user_kind == "chatter" or is_assistant_chatter(text):
                kind = "chatter"
            elif last_user_kind is None:
                kind = "opening"
            else:
                kind = "answer"
            previous_assistant = text
        kinds.append(kind)
    turns: list[ReadTurn] = []
    answering = False  # whether the current exchange is compared
    topic = content_words(question)
    for index, (message, text, kind) in enumerate(zip(history, texts, kinds, strict=True)):
        if kind in ("setting", "question"):
            # A plain question on the final question's topic ("best restaurants in Lima?",
            # then "What's a good restaurant?") is compared too.
            answering = kind == "setting" or not standalone or bool(topic & content_words(text))
        if kind == "system" or kind == "chatter":
            compared = False
        elif kind == "opening":
            compared = True
        else:  # a set-up, a question, or an answer: with its exchange
            compared = answering
        turns.append(ReadTurn(index, message["role"], text, kind, compared))
    return Conversation(standalone, None if standalone else cue, tuple(turns))


__all__ = [
    "HISTORY_MODES",
    "ContextCheck",
    "Conversation",
    "HistoryMode",
    "ReadTurn",
    "Standalone",
    "context_matches",
    "is_assistant_chatter",
    "is_chatter",
    "is_plain_question",
    "reaches_back",
    "read_history",
    "slot_swap",
]
