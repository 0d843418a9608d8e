"""Two conversations' compared turns, matched turn against turn (`history="relevant"`).

`conversation.py` decides which earlier turns can change the answer; this module decides whether
the compared turns of a request and of a stored entry say the same: equal texts, or no slot swap,
no name or number on one side only, and the single-question verifier (judge included) accepting
the pair; an assistant's reply to turns that matched needs only the same facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import extract_features

_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def tokens(text: str) -> list[str]:
    return [t.replace("\u2019", "'") for t in _TOKEN.findall(text.lower())]


# -- matching the compared turns of two conversations ---------------------------------------------
@dataclass(frozen=True)
class ContextCheck:
    """How the compared turns of a request met those of a stored entry."""

    matched: bool
    turn: int | None = None
    """The first compared turn (0-based among compared turns) that did not match."""
    why: str = ""


def _cosine(a: Any, b: Any) -> float:
    va = np.asarray(a, dtype=np.float32)
    vb = np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return 0.0 if denom == 0.0 else float(np.dot(va, vb) / denom)


def context_matches(
    ours: Sequence[tuple[str, str]],
    theirs: Sequence[tuple[str, str]],
    verifier: Any,
    cutoff: float | None,
    threshold: float,
    embed: Callable[[str], Any],
    judge: Callable[[str, str], Any],
) -> Generator[Any, Any, ContextCheck]:
    """A plan fragment: whether every compared turn of `ours` asks/says the same as its
    counterpart in `theirs`, by the verifier (judge included) and the similarity threshold.
    `embed(text)` and `judge(a, b)` build the I/O steps to yield (the engine's `Embed` and
    `AskJudge`). Equal texts match without I/O; without a verifier only equal texts match."""
    if len(ours) != len(theirs):
        return ContextCheck(False, None, "a different number of compared turns")
    for i, ((role_a, a), (role_b, b)) in enumerate(zip(ours, theirs, strict=True)):
        if role_a != role_b:
            return ContextCheck(False, i, "the turns' roles differ")
        if a == b:
            continue
        if verifier is None:
            return ContextCheck(False, i, "the turns differ and no verifier is on")
        similarity = _cosine((yield embed(a)), (yield embed(b)))
        if similarity < threshold and not verifier.near_repeat(a, b, similarity):
            return ContextCheck(
                False, i, f"similarity {similarity:.4f} below threshold {threshold:.4f}"
            )
        swap = slot_swap(a, b)
        if swap is not None:
            return ContextCheck(False, i, f"a detail differs: {swap[0]!r} / {swap[1]!r}")
        if _facts_differ(a, b, similarity):
            return ContextCheck(False, i, "a name or a number differs")
        if role_a == "assistant" and _same_facts(verifier, a, b, similarity):
            continue  # the reply to turns that matched: its facts agree, its words may not
        accepted, z = verifier.prejudge(a, b, similarity, cutoff)
        if accepted is None:
            accepted = verifier.conclude(z, (yield judge(a, b)), cutoff)
        if not accepted:
            return ContextCheck(False, i, "rejected by the verifier")
    return ContextCheck(True)


ANSWER_FLOOR = 0.6
"""An assistant turn below this similarity to its counterpart goes to the verifier."""
_FACTS = ("entity_mismatch", "entity_one_sided", "number_one_sided")


def _facts_differ(a: str, b: str, similarity: float) -> bool:
    """A name or a number on one side only, or two different names: a set-up turn that says
    "Lima" or "$900" is not the one that says "Cusco" or nothing of the amount."""
    feats = extract_features(a, b, similarity)
    return any(feats[name] > 0 for name in _FACTS)


# Words that carry no detail of their own (a swap of them is grammar, not content).
FUNCTION_WORDS = frozenset(
    """a an the to of in on at for by with from and or but is are was were be been am i i'm me
    my we our you your it its this that these those there here so as if then than up out
    about into over after before just very really some any""".split()  # noqa: SIM905
)
QUESTION_WORDS = frozenset(
    """what how why who whom whose when where which can could should would will shall does do
    did has have had may might must much many""".split()  # noqa: SIM905
)
SLOT_WORDS = 3
"""The longest span read as one slot ("in July" / "next week")."""


def slot_swap(a: str, b: str) -> tuple[str, str] | None:
    """A detail swapped in the same slot: spans of up to SLOT_WORDS words between the same
    neighbours ("a [cold] room" / "a [dark] room", "Lisbon [in July]" / "Lisbon [next week]"),
    each holding a content word the other turn never uses. A reworded turn moves its words
    around; a swap keeps the frame and changes what fills it. A synonym in the same slot
    ("flat" / "apartment") is read as a swap too: a miss, never a wrong answer."""
    # No start mark: rewordings vary most in how they open ("Since moving..." / "I put...").
    ta = [*tokens(a), "</s>"]
    tb = [*tokens(b), "</s>"]
    in_a, in_b = set(ta), set(tb)
    only_a = {t for t in ta if t not in in_b and t not in FUNCTION_WORDS}
    only_b = {t for t in tb if t not in in_a and t not in FUNCTION_WORDS}
    if not only_a or not only_b:
        return None
    spans_b: dict[tuple[str, str], list[list[str]]] = {}
    for k in range(len(tb)):
        for n in range(1, SLOT_WORDS + 1):
            if k + n + 1 < len(tb):
                spans_b.setdefault((tb[k], tb[k + n + 1]), []).append(tb[k + 1 : k + n + 1])
    for i in range(len(ta)):
        for n in range(1, SLOT_WORDS + 1):
            if i + n + 1 >= len(ta):
                break
            span = ta[i + 1 : i + n + 1]
            mine = [t for t in span if t in only_a]
            if not mine:
                continue
            for other in spans_b.get((ta[i], ta[i + n + 1]), []):
                theirs = [t for t in other if t in only_b]
                if theirs:
                    return " ".join(span), " ".join(other)
    return None


def _same_facts(verifier: Any, a: str, b: str, similarity: float) -> bool:
    """Two assistant replies that state the same facts: no veto of the verifier fires (numbers,
    years, negation, contrast words, comparisons, roles) and no name or number stands on one
    side only. Replies to matching turns in the same partition (model, parameters, system
    prompt) differ in wording far more than questions do; what can change a later answer is
    what they state, and that is what must agree."""
    if similarity < ANSWER_FLOOR:
        return False
    feats = extract_features(a, b, similarity)
    return not any(feats[name] > 0 for name in (*verifier.weights.vetoes, *_FACTS))
