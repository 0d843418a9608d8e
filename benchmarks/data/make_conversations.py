"""Generate the conversation dev set: benchmarks/data/conversations_dev.jsonl.

    python -m benchmarks.data.make_conversations       # seeded: the same file every run

Each frame is a situation a user sets up in a turn (phrasings with two slots: `{x}` the main
thing, a destination or a product; `{d}` a detail, a date, an amount, an allergy), the
assistant's reply (two wordings), questions that reach back to it, a standalone question, and a
writing task. For every frame eighteen pairs are written, `a` the stored conversation, `b` the
one looked up, three of each kind:
- should hit: `reworded` (the set-up in another phrasing, the assistant's reply the same or
  reworded), `irrelevant` (a standalone final question after other chats, or none),
  `chatter` (thanks, greetings, ok between the turns);
- traps: `context_swap` (another `{x}`), `detail_swap` (another `{d}`), `intent_flip` (the
  history asks for the opposite: longer/shorter, French/Spanish, formal/casual...).
Final user messages of a pair are the same text; conversations have 2 to 20 messages (plain
questions on other topics and chatter pad them, the same on both sides where they are compared).
The split is by frame (sha256 of the frame id): "build" or "report", as make_contrast.py does.
"""

# ruff: noqa: E501, RUF005  (tables of frames: one field a line reads best)
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent / "conversations_dev.jsonl"
SEED = 28
SHOULD_HIT = ("reworded", "irrelevant", "chatter")
TRAPS = ("context_swap", "detail_swap", "intent_flip")


@dataclass(frozen=True)
class Frame:
    id: str
    setups: tuple[str, ...]  # phrasings of the set-up turn with {x} and {d}
    replies: tuple[str, str]  # the assistant's reply, two wordings ({x}, {d})
    xs: tuple[str, ...]
    ds: tuple[str, ...]
    follows: tuple[str, ...]  # final questions that reach back to the set-up
    standalone: str  # a final question that needs no history
    task: str  # a writing task about {x}


def f(
    id: str,
    setups: list[str],
    replies: tuple[str, str],
    xs: list[str],
    ds: list[str],
    follows: list[str],
    standalone: str,
    task: str,
) -> Frame:
    return Frame(id, tuple(setups), replies, tuple(xs), tuple(ds), tuple(follows), standalone, task)


# fmt: off
FRAMES = (
    f("trip", ["I'm planning a trip to {x} {d}.", "{d} I am travelling to {x}.", "I will be visiting {x} {d}."],
      ("Great choice! {x} is lovely to visit {d}.", "Nice, {x} is a wonderful place to go {d}."),
      ["Lima", "Cusco", "Lisbon", "Kyoto"], ["in March", "in July", "next week"],
      ["How long does it take to get there from Madrid?", "What should I pack for it?", "Is it safe to walk around there at night?"],
      "What is the capital of Peru?", "Write a short travel itinerary for {x}."),
    f("allergy", ["I'm allergic to {d} and I'm hosting a dinner for {x} people.", "I have a {d} allergy; I'm cooking dinner for {x} people.", "Dinner for {x} people at my place, and I can't eat {d}."],
      ("Noted: no {d}, and portions for {x}.", "Got it, a {d}-free menu for {x} guests."),
      ["four", "six", "ten"], ["peanuts", "shellfish", "dairy", "gluten"],
      ["Suggest a dessert that works for that.", "What main course would fit?", "Can you give me a shopping list for it?"],
      "How many teaspoons are in a tablespoon?", "Write a dinner invitation for {x} friends."),
    f("laptop", ["I'm choosing between laptops and my budget is {d}; I mostly do {x}.", "My budget for a new laptop is {d}, mainly for {x}.", "I need a laptop for {x}, and I can spend {d}."],
      ("With {d} for {x}, look at mid-range models.", "For {x} on a {d} budget there are good options."),
      ["video editing", "gaming", "programming", "office work"], ["$800", "$1500", "$2500"],
      ["Which one would you recommend?", "How much RAM should it have?", "Is it worth waiting for the next model?"],
      "What does RAM stand for?", "Write a short product review of a laptop for {x}."),
    f("loan", ["I want to borrow {d} to buy a {x}.", "I'm looking at a loan of {d} for a {x}.", "I need {d} of financing for a {x}."],
      ("A {d} loan for a {x} is common; rates vary.", "Financing {d} for a {x} is doable."),
      ["car", "boat", "house", "motorcycle"], ["$5,000", "$20,000", "$300,000"],
      ["What would the monthly payment be over five years?", "How long would it take to pay that off?", "What credit score do I need for it?"],
      "What is compound interest?", "Write a short email asking a bank about a loan for a {x}."),
    f("recipe", ["I'd like to bake a {x} for {d} people.", "I'm baking a {x} for {d} guests.", "Planning to make a {x} that serves {d}."],
      ("A {x} for {d} needs a bit of planning.", "Sure, a {x} serving {d} is a nice bake."),
      ["chocolate cake", "banana bread", "apple pie", "cheesecake"], ["4", "8", "12"],
      ["How much flour do I need for that?", "How long should it bake?", "Can I make it the day before?"],
      "At what temperature does water boil?", "Write a short recipe card for a {x}."),
    f("medication", ["My {x} takes {d} of ibuprofen twice a day.", "My {x} is on {d} ibuprofen, twice daily.", "Twice a day my {x} takes {d} of ibuprofen."],
      ("{d} twice a day is a typical adult dose.", "Twice daily at {d} is a common dose."),
      ["father", "daughter", "grandmother"], ["200 mg", "400 mg", "800 mg"],
      ["Is that dose safe with alcohol?", "Can they take it with coffee?", "How long can they keep taking it?"],
      "What is ibuprofen used for?", "Write a reminder note for my {x}'s medication."),
    f("flight", ["I'm flying from {x} on {d}.", "My flight leaves {x} on {d}.", "I depart from {x} on {d}."],
      ("Flights from {x} on {d} are often busy.", "Leaving {x} on {d}: book early."),
      ["Boston", "Chicago", "Denver", "Seattle"], ["Monday", "Friday", "Sunday"],
      ["What time should I get to the airport then?", "Will it be crowded that day?", "Is there a lounge there?"],
      "How high do commercial planes fly?", "Write a packing checklist for a flight from {x}."),
    f("garden", ["I want to grow {x} on my balcony, which gets {d}.", "My balcony gets {d} and I'd like to grow {x}.", "I'm growing {x} on a balcony with {d}."],
      ("{x} can do well with {d}.", "With {d}, {x} is a reasonable choice."),
      ["tomatoes", "basil", "strawberries", "lettuce"], ["full sun", "partial shade", "morning sun only"],
      ["How often should I water them?", "What pot size do they need?", "When can I harvest them?"],
      "Why are leaves green?", "Write a short watering schedule for {x}."),
    f("job", ["I have a job interview at {x} on {d}.", "On {d} I'm interviewing with {x}.", "My interview with {x} is on {d}."],
      ("Good luck with {x} on {d}!", "An interview at {x} on {d}, exciting!"),
      ["Google", "a hospital", "a law firm", "a startup"], ["Tuesday", "Thursday", "the 15th"],
      ["What should I wear for it?", "What questions will they ask?", "How should I follow up after it?"],
      "What is a cover letter?", "Write a thank-you email after an interview at {x}."),
    f("workout", ["I'm training for a {x} in {d}.", "In {d} I'm running a {x}.", "My {x} is {d} away and I'm training."],
      ("A {x} in {d} is a good goal.", "{d} to prepare for a {x}: manageable."),
      ["5K", "half marathon", "marathon"], ["four weeks", "three months", "six months"],
      ["How many days a week should I run for it?", "What should I eat the night before it?", "Is that enough time?"],
      "How many calories are in a banana?", "Write a motivational message for someone training for a {x}."),
    f("pet", ["I'm adopting a {x} that is {d} old.", "We're bringing home a {d}-old {x}.", "Our new {x} is {d} old."],
      ("A {d}-old {x} needs care and patience.", "Congrats on the {x}; {d} old is a great age."),
      ["puppy", "kitten", "rabbit"], ["8 weeks", "6 months", "2 years"],
      ["How much should I feed it?", "When should it see a vet?", "How often does it need to go out?"],
      "How long do cats usually live?", "Write a short welcome card for a new {x}."),
    f("rent", ["I'm renting a {x} apartment for {d} a month.", "My rent for a {x} flat is {d} per month.", "I pay {d} monthly for a {x} apartment."],
      ("{d} for a {x} is about average in many cities.", "A {x} at {d} a month is a fair price."),
      ["studio", "one-bedroom", "two-bedroom"], ["$900", "$1,800", "$3,200"],
      ["Is that a good deal?", "How much should I earn to afford it?", "Can I negotiate it down?"],
      "What is a security deposit?", "Write a listing description for a {x} apartment."),
    f("course", ["I'm taking an exam in {x} on {d}.", "My {x} exam is on {d}.", "On {d} I sit my {x} exam."],
      ("An exam in {x} on {d}: plan your revision.", "{x} on {d}, good luck with it."),
      ["calculus", "chemistry", "history", "biology"], ["Monday", "the 3rd of June", "next Friday"],
      ["How should I study for it?", "How many hours a day is enough for that?", "What topics come up most there?"],
      "Who invented calculus?", "Write a study plan for a {x} exam."),
    f("car", ["My {x} has {d} on the clock.", "I drive a {x} with {d}.", "The {x} I own has done {d}."],
      ("A {x} with {d} can still run well.", "{d} on a {x} is a fair amount."),
      ["Toyota Corolla", "Ford Focus", "Honda Civic"], ["50,000 miles", "120,000 miles", "200,000 miles"],
      ["When should I change the timing belt on it?", "Is it worth selling now?", "What service does it need next?"],
      "How does a catalytic converter work?", "Write a used-car ad for a {x}."),
    f("wedding", ["I'm giving a speech at my {x}'s wedding in {d}.", "My {x} gets married in {d} and I'm giving a speech.", "In {d} I speak at my {x}'s wedding."],
      ("A speech for your {x} in {d}, lovely.", "Speaking at your {x}'s wedding in {d} is an honour."),
      ["sister", "best friend", "brother", "cousin"], ["June", "two weeks", "October"],
      ["How long should it be?", "Should I add a joke to it?", "How do I end it?"],
      "What is a best man?", "Write a toast for my {x}'s wedding."),
    f("plant", ["My {x} is losing leaves since I moved it to a {d} room.", "Since moving my {x} to a {d} room it drops leaves.", "I put my {x} in a {d} room and now its leaves fall."],
      ("A {x} in a {d} room can react like that.", "{x} often drops leaves after a move to a {d} room."),
      ["fiddle leaf fig", "monstera", "ficus"], ["cold", "dark", "dry"],
      ["Should I move it back?", "How often should I water it now?", "Will it recover?"],
      "What is photosynthesis?", "Write a care guide for a {x}."),
    f("budget", ["I earn {d} a month and want to save for a {x}.", "With a monthly income of {d}, I'm saving for a {x}.", "I'd like to save for a {x}; I make {d} per month."],
      ("Saving for a {x} on {d} is possible with a plan.", "On {d} a month, a {x} fund is realistic."),
      ["house deposit", "car", "wedding", "vacation"], ["$3,000", "$5,000", "$8,000"],
      ["How much should I put aside each month for it?", "How long would that take?", "Where should I keep that money?"],
      "What is an index fund?", "Write a monthly budget for saving for a {x}."),
    f("move", ["I'm moving from {x} to Berlin in {d}.", "In {d} I relocate from {x} to Berlin.", "I leave {x} for Berlin in {d}."],
      ("Moving from {x} to Berlin in {d}: plenty to plan.", "From {x} to Berlin in {d}, exciting."),
      ["London", "Warsaw", "Rome", "Toronto"], ["January", "August", "three weeks"],
      ["What documents do I need for that?", "How should I ship my things there?", "Is it cheaper to fly or drive there?"],
      "What is the population of Berlin?", "Write a goodbye message to friends in {x}."),
    f("party", ["I'm throwing a birthday party for my {x} who turns {d}.", "My {x} turns {d} and I'm planning the party.", "Party time: my {x} is turning {d}."],
      ("A party for a {x} turning {d}, fun!", "Turning {d}: your {x} deserves a great party."),
      ["son", "mother", "grandfather", "niece"], ["5", "16", "40", "80"],
      ["What games would work for it?", "What cake should I order for that?", "How many guests should I invite?"],
      "When was the birthday cake invented?", "Write a birthday card for my {x}."),
    f("phone", ["My {x} battery drains to zero in {d}.", "The battery of my {x} is empty after {d}.", "After {d} my {x} battery is dead."],
      ("A {x} draining in {d} is unusual.", "{d} of battery on a {x} is short."),
      ["iPhone 12", "Galaxy S21", "Pixel 6"], ["two hours", "five hours", "one day"],
      ["Should I replace it?", "How much would a new one cost?", "Is that normal?"],
      "What is a lithium-ion battery?", "Write a support ticket about a {x} battery."),
    f("hike", ["I'm hiking {x} with my {d}.", "My {d} and I will hike {x}.", "Hiking {x} this weekend with my {d}."],
      ("{x} with your {d} sounds fun.", "A hike on {x} with your {d}, enjoy."),
      ["Mount Fuji", "the Grand Canyon", "Ben Nevis"], ["kids", "elderly parents", "dog"],
      ["How long will it take us?", "What should we bring for it?", "Is it too hard for them?"],
      "How tall is Mount Everest?", "Write a short safety briefing for a hike on {x}."),
    f("tax", ["I'm self-employed in {x} and earned {d} last year.", "Last year I made {d} as a freelancer in {x}.", "As a freelancer in {x}, my income was {d} last year."],
      ("Self-employed in {x} with {d}: taxes apply.", "{d} of freelance income in {x} is taxable."),
      ["Spain", "Germany", "Canada", "Australia"], ["€30,000", "€60,000", "€120,000"],
      ["How much tax will I owe on that?", "When is the deadline there?", "Can I deduct my home office from it?"],
      "What is VAT?", "Write a short invoice note for a freelancer in {x}."),
    f("concert", ["I have tickets to see {x} on {d}.", "On {d} I'm going to a {x} concert.", "I'm seeing {x} live on {d}."],
      ("{x} on {d}, what a show that will be.", "Seeing {x} on {d} sounds great."),
      ["Taylor Swift", "Metallica", "Adele", "Coldplay"], ["Saturday", "the 12th", "New Year's Eve"],
      ["What time should I arrive for it?", "Can I bring a bag there?", "How long will it last?"],
      "How loud is a rock concert in decibels?", "Write a post about seeing {x} live."),
    f("sleep", ["My {x} wakes up at {d} every night.", "Every night my {x} is awake at {d}.", "At {d} each night my {x} wakes up."],
      ("A {x} waking at {d} is common.", "Night waking at {d} happens with a {x}."),
      ["baby", "toddler", "teenager"], ["2 am", "4 am", "midnight"],
      ["How can I stop that?", "Should I see a doctor about it?", "Is it normal at that age?"],
      "How many hours of sleep do adults need?", "Write a bedtime routine for a {x}."),
)

CHATTER = (
    ("thanks!", "You're welcome!"),
    ("ok", "Great!"),
    ("thank you so much", "Happy to help!"),
    ("cool, thanks", "Anytime!"),
    ("hi", "Hello! How can I help you today?"),
    ("great", "Glad to help!"),
    ("awesome, that helps", "You're welcome! Anything else?"),
)
OTHER_QUESTIONS = (
    ("What is the boiling point of water?", "100 degrees Celsius at sea level."),
    ("Who wrote Hamlet?", "William Shakespeare."),
    ("How many continents are there?", "Seven."),
    ("What is the speed of light?", "About 300,000 km per second."),
    ("How do I make pancakes?", "Mix flour, eggs and milk, then fry."),
    ("What soil do tomatoes like?", "Loose, well-drained soil."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci."),
    ("What is the largest ocean?", "The Pacific."),
    ("How many bones are in the human body?", "206 in an adult."),
    ("What does DNA stand for?", "Deoxyribonucleic acid."),
    ("I'm baking bread tonight, what flour works best?", "Bread flour, high in protein."),
    ("Which planet is closest to the sun?", "Mercury."),
)
INTENTS = (
    ("Make it longer.", "Make it shorter."),
    ("Translate it to French.", "Translate it to Spanish."),
    ("Make it more formal.", "Make it more casual."),
    ("Add more detail to it.", "Remove detail from it."),
    ("Make it funnier.", "Make it more serious."),
    ("Rewrite it for children.", "Rewrite it for experts."),
    ("Use bullet points.", "Use one paragraph, no bullet points."),
    ("Make it sound more positive.", "Make it sound more negative."),
)
INTENT_FOLLOWS = ("Can you also add a title to it?", "Now give it a closing line.", "Also fix any typos in it.")
# fmt: on


def _split(frame_id: str) -> str:
    return "report" if hashlib.sha256(frame_id.encode()).digest()[0] % 2 else "build"


Msg = dict[str, str]


def _m(role: str, text: str) -> Msg:
    return {"role": role, "content": text}


def _fill(template: str, x: str, d: str) -> str:
    text = template.replace("{x}", x).replace("{d}", d)
    return text[0].upper() + text[1:]


def _prefix(rng: random.Random, most: int, least: int = 0) -> list[Msg]:
    """Plain questions on other topics (and their answers)."""
    out: list[Msg] = []
    for q, a in rng.sample(OTHER_QUESTIONS, rng.randint(least, most)):
        out += [_m("user", q), _m("assistant", a)]
    return out


def _with_chatter(turns: list[Msg], rng: random.Random, n: int) -> list[Msg]:
    """`turns` with n chatter exchanges inserted after assistant turns (or at the start)."""
    out = list(turns)
    for _ in range(n):
        slots = [0] + [i + 1 for i, m in enumerate(out) if m["role"] == "assistant"]
        at = rng.choice(slots)
        u, a = rng.choice(CHATTER)
        out[at:at] = [_m("user", u), _m("assistant", a)]
    return out


def _setup(frame: Frame, phrasing: int, reply: int, x: str, d: str) -> list[Msg]:
    return [
        _m("user", _fill(frame.setups[phrasing], x, d)),
        _m("assistant", _fill(frame.replies[reply], x, d)),
    ]


def _pairs(frame: Frame, rng: random.Random) -> list[tuple[str, list[Msg], list[Msg]]]:
    out: list[tuple[str, list[Msg], list[Msg]]] = []
    for _ in range(3):
        x, x2 = rng.sample(frame.xs, 2)
        d, d2 = rng.sample(frame.ds, 2)
        p, p2 = rng.sample(range(len(frame.setups)), 2)
        follow = _m("user", rng.choice(frame.follows))
        pre = _prefix(rng, 3)
        reply2 = rng.randint(0, 1)  # the reworded chat's reply: the same or other words
        # should hit
        out.append(
            (
                "reworded",
                pre + _setup(frame, p, 0, x, d) + [follow],
                pre + _setup(frame, p2, reply2, x, d) + [follow],
            )
        )
        final = _m("user", frame.standalone)
        a = _with_chatter(_prefix(rng, 3, 1), rng, rng.randint(0, 1))
        b = _prefix(rng, 4, 1)
        out.append(("irrelevant", a + [final], b + [final]))
        base = pre + _setup(frame, p, 0, x, d)
        out.append(
            (
                "chatter",
                _with_chatter(base, rng, rng.randint(0, 1)) + [follow],
                _with_chatter(base, rng, rng.randint(1, 4)) + [follow],
            )
        )
        # traps
        q = p2 if rng.random() < 0.5 else p  # half of them reworded as well
        out.append(
            (
                "context_swap",
                pre + _setup(frame, p, 0, x, d) + [follow],
                _with_chatter(pre + _setup(frame, q, 0, x2, d), rng, rng.randint(0, 1)) + [follow],
            )
        )
        out.append(
            (
                "detail_swap",
                pre + _setup(frame, p, 0, x, d) + [follow],
                _with_chatter(pre + _setup(frame, q, 0, x, d2), rng, rng.randint(0, 1)) + [follow],
            )
        )
        one, two = rng.choice(INTENTS)
        if rng.random() < 0.5:
            one, two = two, one
        task = [_m("user", _fill(frame.task, x, d)), _m("assistant", f"Here is a draft about {x}.")]
        end = _m("user", rng.choice(INTENT_FOLLOWS))
        out.append(
            (
                "intent_flip",
                pre + task + [_m("user", one), _m("assistant", "Here is the new version.")] + [end],
                pre + task + [_m("user", two), _m("assistant", "Here is the new version.")] + [end],
            )
        )
    return out


def generate(seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for frame in FRAMES:
        split = _split(frame.id)
        for kind, a, b in _pairs(frame, rng):
            assert 2 <= len(a) <= 20 and 2 <= len(b) <= 20, (kind, len(a), len(b))
            rows.append(
                {
                    "kind": kind,
                    "frame": frame.id,
                    "split": split,
                    "should_hit": kind in SHOULD_HIT,
                    "a": a,
                    "b": b,
                    "id": len(rows),
                }
            )
    return rows


def main() -> None:
    rows = generate()
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    by_split = {s: sum(r["split"] == s for r in rows) for s in ("build", "report")}
    print(f"{len(rows)} pairs ({by_split}) from {len(FRAMES)} frames -> {OUT}")


if __name__ == "__main__":
    main()
