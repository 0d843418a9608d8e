"""Generate the adversarial contrast dev set: benchmarks/data/contrast_dev.jsonl.

    python -m benchmarks.data.make_contrast          # seeded: the same file every run

Each frame is one question written several ways (phrasings with slots) and the opposite values
its slot can take. For every (frame, opposite pair, which value is stored) five pairs are
written, `a` always the stored question:
- trap (two): `b` asks the opposite, in the same phrasing and in another one (direction
  frames: the operands swapped, in another phrasing and in the same one) -> must miss;
- near_repeat (two): `b` is `a` with a typo, other casing/punctuation or a filler -> must hit;
- reworded: `b` is another phrasing of `a` with the same value -> should hit.
Frames and values were written by category (opposite adjectives, affix negation, verb pairs,
boundaries, times, qualifiers, platforms, direction), not copied from any test list. The split
is by frame: a frame and all its rows are "build" or "report" (sha256 of the frame id), so
the report part holds questions and value pairs never seen while building the rules.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent / "contrast_dev.jsonl"
SEED = 27


@dataclass(frozen=True)
class Frame:
    id: str
    kind: str
    phrasings: tuple[str, ...]  # "{x}" is the value; direction frames: "{p}" source, "{q}" target
    values: tuple[tuple[str, str], ...]


def f(id: str, kind: str, phrasings: list[str], values: list[tuple[str, str]]) -> Frame:
    return Frame(id, kind, tuple(phrasings), tuple(values))


FRAMES: list[Frame] = [
    # Opposite adjectives, no negation word
    f("adj-open", "antonym", ["Is the {s} {x} on Sundays?", "On Sundays, is the {s} {x}?",
      "Is the {s} usually {x} on a Sunday?"], [("open|city library", "closed|city library"),
      ("open|pharmacy on Main Street", "closed|pharmacy on Main Street")]),
    f("adj-temp", "antonym", ["Should I drink {x} water after a workout?",
      "After working out, is it better to drink {x} water?",
      "Is drinking {x} water after exercise a good idea?"], [("hot", "cold"), ("warm", "cold")]),
    f("adj-allowed", "antonym", ["Is smoking {x} on German trains?",
      "Are passengers on German trains {x} to smoke?",
      "On trains in Germany, is smoking {x}?"],
      [("allowed", "banned"), ("permitted", "forbidden")]),
    f("adj-compulsory", "antonym", ["Is school uniform {x} in Japan?",
      "Are school uniforms {x} in Japanese schools?", "In Japan, is wearing a school uniform {x}?"],
      [("compulsory", "optional"), ("mandatory", "optional")]),
    f("adj-cheap", "antonym", ["Why is public transport so {x} in Norway?",
      "What makes public transport in Norway so {x}?",
      "Why is it so {x} to use public transport in Norway?"], [("cheap", "expensive")]),
    f("adj-public", "antonym", ["How do I make my Instagram account {x}?",
      "How can I set my Instagram account to {x}?",
      "What are the steps to make an Instagram account {x}?"], [("public", "private")]),
    f("adj-strong", "antonym", ["What are the signs of a {x} immune system?",
      "How can I tell if my immune system is {x}?",
      "Which symptoms show that the immune system is {x}?"], [("strong", "weak")]),
    f("adj-fast", "antonym", ["Why is my laptop charging so {x}?",
      "What makes my laptop charge so {x}?", "Why does my laptop charge this {x}?"],
      [("fast", "slow"), ("quickly", "slowly")]),
    f("adj-wet", "antonym", ["Should cactus soil be kept {x}?",
      "Is it better to keep the soil of a cactus {x}?", "Do cacti like their soil {x}?"],
      [("wet", "dry"), ("moist", "dry")]),
    f("adj-high", "antonym", ["Which foods are {x} in iron?", "What foods are {x} in iron?",
      "Can you list foods that are {x} in iron?"], [("high", "low"), ("rich", "poor")]),
    # Negation by affix
    f("affix-eggs", "affix", ["Is it {x} to eat raw eggs?", "Are raw eggs {x} to eat?",
      "Is eating raw eggs {x}?"], [("safe", "unsafe")]),
    f("affix-ticket", "affix", ["Is a Ryanair basic ticket {x}?",
      "Are Ryanair basic fares {x}?", "Can you tell me if a basic Ryanair ticket is {x}?"],
      [("refundable", "non-refundable"), ("transferable", "non-transferable")]),
    f("affix-landing", "affix", ["Why was the first Mars landing attempt {x}?",
      "What made the first attempt to land on Mars {x}?",
      "Why did the first Mars landing attempt turn out {x}?"],
      [("successful", "unsuccessful")]),
    f("affix-drone", "affix", ["Is flying a drone in a city park {x}?",
      "Is it {x} to fly a drone in city parks?", "Are drone flights in a city park {x}?"],
      [("legal", "illegal")]),
    f("affix-recover", "affix", ["Is it {x} to recover deleted WhatsApp messages?",
      "Is recovering deleted WhatsApp messages {x}?",
      "Would it be {x} to get back WhatsApp messages I deleted?"],
      [("possible", "impossible")]),
    f("affix-cause", "affix", ["Is the cause of migraines {x}?",
      "Do doctors consider the cause of migraines {x}?",
      "Is what causes migraines {x}?"], [("known", "unknown")]),
    f("affix-damage", "affix", ["Is hair loss from stress {x}?",
      "Is stress-related hair loss {x}?", "Is the hair loss caused by stress {x}?"],
      [("reversible", "irreversible")]),
    f("affix-kiwi", "affix", ["Is the skin of a kiwi {x}?", "Is kiwi skin {x}?",
      "Is the peel of a kiwi fruit {x}?"], [("edible", "inedible")]),
    f("affix-spider", "affix", ["Is the bite of a house spider {x}?",
      "Are house spider bites {x}?", "Is a house spider's bite {x}?"],
      [("harmful", "harmless")]),
    f("affix-heartbeat", "affix", ["Is a {x} heartbeat a reason to see a doctor?",
      "Should I see a doctor about a {x} heartbeat?",
      "Does a {x} heartbeat mean I need a doctor?"], [("regular", "irregular"),
      ("stable", "unstable")]),
    f("affix-passport", "affix", ["What should I do if my passport is {x}?",
      "My passport is {x}, what do I do?", "What are my options when my passport is {x}?"],
      [("valid", "invalid")]),
    f("affix-app", "affix", ["Why is the banking app {x} on my phone?",
      "Why does my phone say the banking app is {x}?",
      "What makes the bank app {x} on my phone?"], [("available", "unavailable"),
      ("secure", "insecure")]),
    f("affix-beer", "affix", ["How many calories are in an {x} beer?",
      "What is the calorie count of an {x} beer?", "How many calories does an {x} beer have?"],
      [("alcoholic", "non-alcoholic")]),
    f("affix-pan", "affix", ["Can I put a {x} pan in the dishwasher?",
      "Is it okay to wash a {x} pan in the dishwasher?",
      "Are {x} pans dishwasher safe?"], [("stick", "non-stick")]),
    f("affix-behaviour", "affix", ["Is my dog's behaviour {x} for his age?",
      "For his age, is my dog's behaviour {x}?", "Is this behaviour {x} for a dog his age?"],
      [("usual", "unusual"), ("normal", "abnormal"), ("mature", "immature")]),
    # Verb pairs
    f("verb-2fa", "verb", ["How do I {x} two-factor authentication on Gmail?",
      "What are the steps to {x} 2FA in Gmail?", "Can you show me how to {x} two-step "
      "verification for my Gmail account?"], [("enable", "disable"), ("turn on", "turn off")]),
    f("verb-font", "verb", ["How do I {x} the font size in Chrome?",
      "How can I {x} the text size in Google Chrome?",
      "What's the way to {x} font size in Chrome?"], [("increase", "decrease")]),
    f("verb-excel", "verb", ["How do I {x} weekends when counting days in Excel?",
      "In Excel, how can I {x} weekends from a day count?",
      "How to {x} weekends in an Excel day count?"], [("include", "exclude")]),
    f("verb-bitcoin", "verb", ["How do I {x} Bitcoin on Coinbase?",
      "What is the process to {x} Bitcoin using Coinbase?",
      "How can I {x} BTC on Coinbase?"], [("buy", "sell")]),
    f("verb-drive", "verb", ["How do I {x} a folder on Google Drive?",
      "What's the fastest way to {x} a whole folder on Google Drive?",
      "How can I {x} an entire folder in Google Drive?"], [("upload", "download")]),
    f("verb-docker", "verb", ["How do I {x} a Docker container?",
      "What command will {x} a Docker container?", "How can I {x} a running Docker container?"],
      [("start", "stop"), ("pause", "unpause")]),
    f("verb-port", "verb", ["How do I {x} port 8080 on Ubuntu?",
      "How can I {x} port 8080 in the Ubuntu firewall?",
      "What's the command to {x} port 8080 on an Ubuntu server?"], [("open", "close")]),
    f("verb-python", "verb", ["How do I {x} Python on a Mac?",
      "What are the steps to {x} Python on macOS?", "How can I {x} Python from my MacBook?"],
      [("install", "uninstall")]),
    f("verb-zip", "verb", ["How do I {x} a zip file with a password?",
      "How can I {x} a password-protected zip file?",
      "What's the way to {x} a zip archive with a password?"], [("encrypt", "decrypt"),
      ("lock", "unlock")]),
    f("verb-youtube", "verb", ["How do I {x} a YouTube channel?",
      "What are the steps to {x} a channel on YouTube?",
      "How can I {x} a YouTube channel from my phone?"], [("subscribe to", "unsubscribe from")]),
    f("verb-zoom", "verb", ["How do I {x} everyone in a Zoom meeting?",
      "How can the host {x} all participants in Zoom?",
      "Is there a way to {x} all attendees on a Zoom call?"], [("mute", "unmute")]),
    f("verb-number", "verb", ["How do I {x} a phone number on an iPhone?",
      "How can I {x} a caller on my iPhone?", "What's the way to {x} a contact's number on "
      "iPhone?"], [("block", "unblock")]),
    f("verb-credit", "verb", ["How do I {x} my credit report?",
      "How can I {x} my credit file with the bureaus?",
      "What are the steps to {x} my credit report?"], [("freeze", "unfreeze")]),
    f("verb-weight", "verb", ["How can I {x} weight quickly and safely?",
      "What is a safe way to {x} weight fast?", "How do I {x} weight fast without risk?"],
      [("gain", "lose"), ("put on", "lose")]),
    f("verb-facebook", "verb", ["How do I {x} my Facebook account?",
      "What are the steps to {x} a Facebook account?",
      "How can I {x} my account on Facebook?"], [("activate", "deactivate")]),
    f("verb-invite", "verb", ["How do I {x} a meeting invite in Outlook?",
      "How can I {x} a meeting request in Outlook?",
      "What's the way to {x} an Outlook calendar invitation?"], [("accept", "decline")]),
    f("verb-printer", "verb", ["How do I {x} a printer in Windows 11?",
      "How can I {x} a printer on a Windows 11 PC?",
      "What are the steps to {x} a printer in Windows 11?"], [("add", "remove")]),
    f("verb-limit", "verb", ["How do I {x} my credit card limit?",
      "Can I {x} the limit on my credit card?", "What do I need to {x} my credit card limit?"],
      [("raise", "lower"), ("increase", "reduce")]),
    # Two sides of a boundary
    f("bound-shipping", "boundary", ["Is shipping free for orders {x} £50?",
      "Do orders {x} £50 get free shipping?", "Is delivery free when an order is {x} £50?"],
      [("under", "over"), ("below", "above")]),
    f("bound-trial", "boundary", ["Can I cancel {x} the 30-day trial period?",
      "Is cancelling {x} the 30-day trial possible?",
      "Am I able to cancel {x} the 30 day trial?"], [("within", "after"),
      ("during", "after")]),
    f("bound-sunset", "boundary", ["Is it safe to swim {x} sunset?",
      "Should I avoid swimming {x} sunset?", "Is swimming {x} sunset dangerous?"],
      [("before", "after")]),
    f("bound-age", "boundary", ["Can children {x} 12 fly alone?",
      "Are kids {x} the age of 12 allowed to fly unaccompanied?",
      "May a child {x} 12 take a flight alone?"], [("under", "over"), ("below", "above")]),
    f("bound-pay", "boundary", ["Do I pay tax if I earn {x} £12,570 a year?",
      "Is income {x} £12,570 a year taxed?", "Am I taxed on earnings {x} £12,570 per year?"],
      [("at least", "at most"), ("more than", "less than")]),
    f("bound-speed", "boundary", ["What is the {x} speed on UK motorways?",
      "How fast is the {x} speed allowed on a UK motorway?",
      "On UK motorways, what's the {x} speed?"], [("minimum", "maximum")]),
    f("bound-dose", "boundary", ["What is the {x} daily dose of paracetamol?",
      "How much paracetamol is the {x} dose per day?",
      "What's the {x} amount of paracetamol in a day?"], [("maximum", "minimum")]),
    f("bound-step", "boundary", ["What is the {x} step of a git rebase?",
      "In a git rebase, what is the {x} step?", "Which step comes {x} in a git rebase?"],
      [("first", "last")]),
    f("bound-floor", "boundary", ["Is the gym on the {x} floor of the hotel?",
      "Does the hotel have its gym on the {x} floor?", "Is the hotel gym located on the {x} "
      "floor?"], [("top", "bottom"), ("upper", "lower")]),
    # Time qualifiers
    f("time-hour", "time", ["Does the pharmacy open at {x}?", "Is the pharmacy open at {x}?",
      "Will the pharmacy be open by {x}?"], [("7am", "7pm"), ("8 a.m.", "8 p.m."),
      ("9 am", "9 pm")]),
    f("time-alarm", "time", ["How do I set an alarm for {x} on my Android phone?",
      "How can I set my Android alarm to {x}?", "What's the way to make an Android alarm go off "
      "at {x}?"], [("6am", "6pm"), ("5:30 am", "5:30 pm")]),
    f("time-bus", "time", ["How often does the 12 bus run on {x}?",
      "What is the frequency of the number 12 bus on {x}?",
      "How frequently does bus 12 run on {x}?"], [("weekdays", "weekends")]),
    f("time-weather", "time", ["Will it rain in Paris {x}?", "Is rain expected in Paris {x}?",
      "Is it going to rain in Paris {x}?"], [("today", "tomorrow")]),
    f("time-run", "time", ["Is it better to run in the {x}?", "Is running in the {x} better?",
      "Should I go running in the {x}?"], [("morning", "evening"), ("morning", "afternoon")]),
    f("time-coffee", "time", ["Is it bad to drink coffee at {x}?",
      "Is drinking coffee at {x} bad for you?", "Should I avoid coffee at {x}?"],
      [("night", "lunchtime"), ("night", "breakfast")]),
    f("time-museum", "time", ["What are the museum's opening hours on {x}?",
      "When is the museum open on {x}?", "What time does the museum open on {x}?"],
      [("Mondays", "Fridays"), ("Saturdays", "Sundays")]),
    f("time-season", "time", ["What is the best thing to plant in {x}?",
      "What should I plant in the garden in {x}?", "Which plants should go in the ground in {x}?"],
      [("spring", "autumn"), ("summer", "winter")]),
    # Qualifiers of the person or thing
    f("qual-shoes", "qualifier", ["Where can I buy {x} running shoes in wide sizes?",
      "Which shops sell {x} running shoes in wide fittings?",
      "Where do I find wide {x} running shoes?"], [("men's", "women's"), ("boys'", "girls'")]),
    f("qual-height", "qualifier", ["What is the average height of {x} in the UK?",
      "How tall are {x} in the UK on average?", "What's the mean height for {x} in Britain?"],
      [("men", "women"), ("boys", "girls")]),
    f("qual-dose", "qualifier", ["What is the ibuprofen dose for {x}?",
      "How much ibuprofen should {x} take?", "What dose of ibuprofen is right for {x}?"],
      [("an adult", "a child"), ("adults", "children")]),
    f("qual-ticket", "qualifier", ["How much is a {x} ticket for the London Eye?",
      "What does a {x} ticket to the London Eye cost?",
      "What's the price of a {x} London Eye ticket?"], [("adult", "child"),
      ("student", "senior")]),
    f("qual-screenshot", "qualifier", ["How do I take a screenshot on {x}?",
      "What's the way to screenshot on {x}?", "How can I capture my screen on {x}?"],
      [("iOS", "Android"), ("an iPhone", "an Android phone"), ("Windows", "a Mac")]),
    f("qual-cache", "qualifier", ["How do I clear the DNS cache on {x}?",
      "How can I flush DNS on {x}?", "What command clears the DNS cache in {x}?"],
      [("Windows", "macOS"), ("Linux", "Windows")]),
    f("qual-plan", "qualifier", ["What features come with the {x} plan of Notion?",
      "What does Notion's {x} plan include?", "Which features are in the {x} Notion plan?"],
      [("free", "paid"), ("monthly", "annual")]),
    f("qual-visa", "qualifier", ["Do {x} students need a visa to study in Canada?",
      "Is a visa required for {x} students studying in Canada?",
      "Must {x} students get a visa to study in Canada?"], [("domestic", "international")]),
    f("qual-seat", "qualifier", ["Can I choose a {x} seat on a Ryanair flight?",
      "Is it possible to pick a {x} seat with Ryanair?",
      "How do I select a {x} seat on Ryanair?"], [("window", "aisle")]),
    # Direction with the operands phrased differently
    f("dir-photos", "direction", ["How do I transfer photos from my {p} to my {q}?",
      "How can I copy the pictures on my {p} onto my {q}?",
      "What is the best way to move photos off my {p} and onto my {q}?"],
      [("phone", "laptop"), ("iPhone", "PC"), ("camera", "tablet")]),
    f("dir-money", "direction", ["How do I send money from {p} to {q}?",
      "How can I move money out of {p} into {q}?",
      "What's the way to transfer funds from {p} to {q}?"],
      [("PayPal", "my bank account"), ("my savings account", "my checking account")]),
    f("dir-migrate", "direction", ["How do I migrate a database from {p} to {q}?",
      "What are the steps to move a database off {p} onto {q}?",
      "How can I switch my database from {p} to {q}?"], [("MySQL", "PostgreSQL"),
      ("MongoDB", "DynamoDB")]),
    f("dir-translate", "direction", ["Translate this sentence from {p} to {q}.",
      "Please turn this {p} sentence into {q}.", "Can you translate the sentence from {p} "
      "into {q}?"], [("English", "French"), ("Spanish", "German")]),
    f("dir-flight", "direction", ["How long is the flight from {p} to {q}?",
      "How many hours does it take to fly from {p} to {q}?",
      "What is the flight time from {p} to {q}?"], [("London", "New York"),
      ("Sydney", "Tokyo")]),
    f("dir-export", "direction", ["How do I export my {p} to a {q} file?",
      "How can I save my {p} as a {q} file?", "What is the way to turn my {p} into a {q} file?"],
      [("spreadsheet", "CSV"), ("contacts", "vCard")]),
    f("dir-sync", "direction", ["How do I copy files from {p} to {q}?",
      "How can I move files off {p} and onto {q}?",
      "What's the easiest way to get files from {p} onto {q}?"],
      [("Dropbox", "Google Drive"), ("an external drive", "my Mac")]),
    f("dir-convert", "direction", ["How do I convert {p} to {q}?",
      "How can I turn {p} into {q}?", "What is the fastest way to change {p} into {q}?"],
      [("a Word document", "a PDF"), ("JPG images", "PNG images")]),
]  # fmt: skip

# Near-repeat perturbations (what users type twice): one per row, chosen by the seeded RNG.
FILLERS_BEFORE = ("um, ", "uh ", "hey, ", "hi! ", "quick question: ", "so, ", "like, ", "hey ")
FILLERS_AFTER = (" please", ", please", " thanks", " thx")


def _split(frame_id: str) -> str:
    return "report" if hashlib.sha256(frame_id.encode()).digest()[0] % 2 else "build"


def _fill(phrasing: str, value: str) -> str:
    if "|" in value:  # "value|subject"
        value, subject = value.split("|", 1)
        return phrasing.format(x=value, s=subject)
    return phrasing.format(x=value)


def _direction(phrasing: str, p: str, q: str) -> str:
    return phrasing.format(p=p, q=q)


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()]
    if not spots:
        return text.lower()
    i = rng.choice(spots)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    how = rng.choice(("swap", "drop", "double", "near"))
    if how == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif how == "drop":
        w = w[:j] + w[j + 1 :]
    elif how == "double":
        w = w[:j] + w[j] + w[j:]
    else:
        keys = "qwertyuiopasdfghjklzxcvbnm"
        w = w[:j] + keys[(keys.index(w[j]) + 1) % len(keys)] + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def near_repeat(text: str, rng: random.Random) -> tuple[str, str]:
    """(perturbed text, what was done)."""
    how = rng.choice(("typo", "case", "punct", "filler", "filler", "typo+filler"))
    if how == "case":
        return (text.lower() if rng.random() < 0.7 else text.upper()), how
    if how == "punct":
        stripped = text.rstrip("?.!")
        return rng.choice((stripped, stripped + "??", stripped + " ?", "  " + text + " ")), how
    if how == "filler" or how == "typo+filler":
        base = _typo(text, rng) if how == "typo+filler" else text
        if rng.random() < 0.6:
            lead = rng.choice(FILLERS_BEFORE)
            return lead + base[0].lower() + base[1:], how
        return base.rstrip("?.!") + rng.choice(FILLERS_AFTER) + "?", how
    return _typo(text, rng), how


def generate(seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for frame in FRAMES:
        split = _split(frame.id)
        n = len(frame.phrasings)
        for k, (x, y) in enumerate(frame.values):
            for flip in (False, True):  # both values take a turn as the stored question
                first, second = (y, x) if flip else (x, y)
                i = rng.randrange(n)
                other = (i + 1 + rng.randrange(n - 1)) % n
                if frame.kind == "direction":
                    a = _direction(frame.phrasings[i], first, second)
                    traps = [_direction(frame.phrasings[other], second, first),
                             _direction(frame.phrasings[i], second, first)]  # fmt: skip
                    reworded = _direction(frame.phrasings[other], first, second)
                else:
                    a = _fill(frame.phrasings[i], first)
                    traps = [
                        _fill(frame.phrasings[i], second),
                        _fill(frame.phrasings[other], second),
                    ]
                    reworded = _fill(frame.phrasings[other], first)
                group = f"{frame.id}#{k}{'r' if flip else ''}"
                base = {"kind": frame.kind, "frame": frame.id, "group": group, "split": split}
                for trap in traps:
                    rows.append({**base, "variant": "trap", "a": a, "b": trap, "should_hit": False})
                for _ in range(2):
                    near, how = near_repeat(a, rng)
                    rows.append({**base, "variant": "near_repeat", "perturbation": how, "a": a,
                                 "b": near, "should_hit": True})  # fmt: skip
                rows.append(
                    {**base, "variant": "reworded", "a": a, "b": reworded, "should_hit": True}
                )
    for i, row in enumerate(rows):
        row["id"] = i
    return rows


def main() -> None:
    rows = generate()
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    by_split = {s: sum(r["split"] == s for r in rows) for s in ("build", "report")}
    print(f"{len(rows)} pairs ({by_split}) from {len(FRAMES)} frames -> {OUT}")


if __name__ == "__main__":
    main()
