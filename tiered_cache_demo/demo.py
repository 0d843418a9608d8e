"""`tiered-cache demo`: a LangChain support bot on the embedded cache, over a realistic workload.

The app is `ChatPromptTemplate | chat model` with `set_llm_cache(TieredLLMCache())`. The model is a
stand-in for a hosted one: it answers deterministically, takes `latency_ms` per call and reports
token usage like a provider does, so the savings are computed the way they would be in
production. The workload mixes popular FAQ questions asked again word for word, the same
questions paraphrased, and questions nobody asked before; it is generated from a seed.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from pydantic import PrivateAttr

from langchain_tiered_cache import TieredLLMCache

SYSTEM_PROMPT = (
    "You are the support assistant of Nimbus Cloud, a web hosting provider. Answer in one or "
    "two friendly sentences and point to the relevant page of the dashboard when there is one."
)

# Popular questions: each intent is asked in several wordings and has one right answer.
FAQ: list[tuple[list[str], str]] = [
    (
        [
            "How do I reset my password?",
            "How can I reset my password?",
            "I forgot my password, how do I reset it?",
            "What is the way to reset my account password?",
        ],
        "Click 'Forgot password' on the sign-in page and follow the link we email you.",
    ),
    (
        [
            "How do I cancel my subscription?",
            "How can I cancel my subscription?",
            "What are the steps to cancel my subscription?",
            "I want to cancel my subscription, how do I do that?",
        ],
        "Open Billing > Subscription and choose 'Cancel plan'; you keep access until the "
        "end of the period.",
    ),
    (
        [
            "Can I get a refund?",
            "Is it possible to get a refund?",
            "Can I get my money back?",
        ],
        "Yes: every plan has a 30-day money-back guarantee; ask for it under Billing > Refunds.",
    ),
    (
        [
            "How do I update my credit card?",
            "How can I change the credit card on my account?",
            "How do I update my payment card?",
        ],
        "Go to Billing > Payment methods, add the new card and make it the default.",
    ),
    (
        [
            "What pricing plans do you offer?",
            "Which pricing plans are available?",
            "What plans do you have?",
        ],
        "Starter ($5/month), Pro ($20/month) and Business ($80/month); see nimbus.example/pricing.",
    ),
    (
        [
            "Do you offer a free trial?",
            "Is there a free trial?",
            "Do you have a free trial?",
        ],
        "Yes, 14 days of the Pro plan, no credit card needed.",
    ),
    (
        [
            "Where are your data centers located?",
            "Where are your data centres?",
            "In which locations are your data centers?",
        ],
        "Frankfurt, Amsterdam, Virginia, Oregon and Singapore.",
    ),
    (
        [
            "How do I add a custom domain?",
            "How can I add a custom domain to my site?",
            "How do I connect my own domain?",
        ],
        "Open Sites > Domains, add the domain and create the CNAME record we show you.",
    ),
    (
        [
            "Do you provide free SSL certificates?",
            "Are SSL certificates free?",
            "Do I get a free SSL certificate?",
        ],
        "Yes, every domain gets a free Let's Encrypt certificate, renewed automatically.",
    ),
    (
        [
            "How often are backups taken?",
            "How often do you back up my data?",
            "How frequently are backups made?",
        ],
        "Every night, kept for 30 days (hourly on the Business plan).",
    ),
    (
        [
            "How do I restore a backup?",
            "How can I restore my site from a backup?",
            "How do I restore my website from a backup?",
        ],
        "Open Sites > Backups, pick a date and click 'Restore'.",
    ),
    (
        [
            "How do I contact customer support?",
            "How can I contact customer support?",
            "What is the best way to contact customer support?",
        ],
        "Chat with us from the dashboard or email support@nimbus.example.",
    ),
    (
        [
            "How do I enable two-factor authentication?",
            "How can I turn on two-factor authentication?",
            "How do I set up two-factor authentication on my account?",
        ],
        "Go to Account > Security and scan the QR code with your authenticator app.",
    ),
    (
        [
            "How do I delete my account?",
            "How can I delete my account?",
            "How do I permanently delete my account?",
        ],
        "Account > Settings > 'Delete account'; your data is erased within 30 days.",
    ),
    (
        [
            "How do I upgrade my plan?",
            "How can I upgrade my plan?",
            "How do I upgrade to a bigger plan?",
        ],
        "Billing > Subscription > 'Change plan'; you pay the difference pro rata.",
    ),
    (
        [
            "What is your uptime guarantee?",
            "What uptime do you guarantee?",
            "Do you have an uptime guarantee?",
        ],
        "99.9% monthly uptime, with service credits when we miss it.",
    ),
    (
        [
            "Which payment methods do you accept?",
            "What payment methods do you accept?",
            "What payment methods can I use?",
        ],
        "Visa, Mastercard, American Express, PayPal and SEPA direct debit.",
    ),
    (
        [
            "Where can I download my invoices?",
            "Where do I find my invoices?",
            "How can I download my invoices?",
        ],
        "Billing > Invoices lists every invoice as a PDF.",
    ),
    (
        [
            "How do I invite a team member?",
            "How can I invite a team member to my account?",
            "How do I add a team member?",
        ],
        "Team > Members > 'Invite', then choose their role.",
    ),
    (
        [
            "How do I create an API key?",
            "How can I create an API key?",
            "How do I generate an API key?",
        ],
        "Account > API keys > 'New key'; copy it at once, it is shown only once.",
    ),
    (
        [
            "Is there a bandwidth limit?",
            "Do you limit bandwidth?",
            "Is bandwidth limited?",
        ],
        "No hard limit: bandwidth is unmetered under our fair-use policy.",
    ),
    (
        [
            "Do you offer free website migration?",
            "Can you migrate my website for free?",
            "Do you migrate websites for free?",
        ],
        "Yes, our team migrates one site for free on any paid plan.",
    ),
]

# Questions asked once: each one must reach the model (a cached answer would be wrong).
NEW_QUESTIONS = [
    "Does the Python runtime support version 3.12?",
    "Can I run a cron job every five minutes?",
    "Why is my deployment stuck in the pending state?",
    "How do I roll back to the previous deployment?",
    "Can I host a WordPress multisite network?",
    "Is there a limit on the number of databases per plan?",
    "How do I set environment variables for my app?",
    "Can I use a wildcard SSL certificate for subdomains?",
    "How do I enable HTTP/3 on my site?",
    "What is the maximum upload size for a single file?",
    "Do you support IPv6?",
    "How do I connect to my database over SSH?",
    "Can I schedule a maintenance window?",
    "How do I purge the CDN cache?",
    "Why did my site return a 502 error last night?",
    "Can I pay yearly instead of monthly?",
    "How do I transfer a domain away from Nimbus?",
    "Is my data encrypted at rest?",
    "Are you GDPR compliant?",
    "Can I get a dedicated IP address?",
    "How do I change the PHP version of my site?",
    "Can I deploy straight from a GitHub repository?",
    "How many staging environments can I create?",
    "Do you offer student discounts?",
    "How do I block traffic from a country?",
    "Can I add a second owner to my account?",
    "How do I export all my DNS records?",
    "Does the Starter plan include email hosting?",
    "Can I run Docker containers?",
    "How do I set up a redirect from www to the bare domain?",
    "What happens to my sites if a payment fails?",
    "Can I limit an API key to read-only access?",
    "How do I see the access logs of my site?",
    "Is Node.js 22 available?",
    "How do I move a site between two accounts?",
    "Can I pause my subscription for a month?",
    "Do you have a status page?",
    "How do I configure SPF and DKIM records?",
    "Can I restore a single file from a backup?",
    "Why is my site slow only in Asia?",
    "How do I enable Brotli compression?",
    "Can I use my own CDN in front of Nimbus?",
    "How do I cancel a domain renewal?",
    "Is there an API to create backups on demand?",
    "Can I change the data center of an existing site?",
    "What ciphers does your TLS configuration allow?",
    "Do you sign a data processing agreement?",
    "How do I reset the password of a database user?",
    "Can I invite a contractor with access to one site only?",
    "How long do you keep logs?",
]


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class SupportModel(BaseChatModel):
    """A stand-in for a hosted chat model: deterministic answers, latency, token usage."""

    model: str = "gpt-4o-mini"
    latency_ms: float = 300.0
    _answers: dict[str, str] = PrivateAttr(default_factory=dict)
    _calls: int = PrivateAttr(default=0)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._answers = {q: answer for wordings, answer in FAQ for q in wordings}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True  # like provider models: the model name reaches the cache key

    @property
    def _llm_type(self) -> str:
        return "support-model"

    @property
    def calls(self) -> int:
        return self._calls

    def answer(self, question: str) -> str:
        return self._answers.get(
            question, f"Good question! An engineer will follow up on: {question}"
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._calls += 1
        time.sleep(self.latency_ms / 1000)
        text = self.answer(messages[-1].text)
        prompt_tokens = sum(_tokens(m.text) + 4 for m in messages)
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": _tokens(text),
            "total_tokens": prompt_tokens + _tokens(text),
        }
        message = AIMessage(
            content=text,
            usage_metadata=usage,
            response_metadata={"model_name": self.model, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


@dataclass(frozen=True)
class Request:
    question: str
    kind: str  # "faq" or "new"
    intent: int | None


def workload(requests: int = 200, seed: int = 7, new_share: float = 0.2) -> list[Request]:
    """FAQ questions with Zipf-like popularity in random wordings, and never-seen questions."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(FAQ))]
    fresh: Iterator[str] = iter(NEW_QUESTIONS)
    out: list[Request] = []
    for _ in range(requests):
        question = next(fresh, None) if rng.random() < new_share else None
        if question is not None:
            out.append(Request(question, "new", None))
            continue
        intent = rng.choices(range(len(FAQ)), weights)[0]
        out.append(Request(rng.choice(FAQ[intent][0]), "faq", intent))
    return out


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


class Progress:
    """A progress bar on `stream`: tqdm's when installed (the `cli` extra); else a bar redrawn in
    place on a terminal, or a line every tenth of the way into a file or pipe."""

    WIDTH = 30

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total, self.stream, self.done, self._said = total, stream, 0, -1
        try:
            from tqdm import tqdm
        except ImportError:
            self._tqdm: Any = None
        else:
            self._tqdm = tqdm(total=total, unit="request", desc="requests", file=stream)
        self._tty = bool(getattr(stream, "isatty", lambda: False)())

    def update(self) -> None:
        self.done += 1
        if self._tqdm is not None:
            self._tqdm.update(1)
            return
        filled = self.WIDTH * self.done // max(1, self.total)
        line = f"  [{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}"
        tenth = 10 * self.done // max(1, self.total)
        if self._tty:
            end = "\n" if self.done == self.total else ""
            print(f"\r{line}", end=end, file=self.stream, flush=True)
        elif tenth != self._said:
            self._said = tenth
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


def run_demo(
    requests: int = 200,
    latency_ms: float = 300.0,
    model: str = "gpt-4o-mini",
    seed: int = 7,
    progress: IO[str] | None = None,
    cache: TieredLLMCache | None = None,
) -> dict[str, Any]:
    """Run the workload through a LangChain app on `cache` (default: a new `TieredLLMCache()`,
    closed at the end); a report of what happened."""

    def say(text: str) -> None:
        if progress is not None:
            print(text, file=progress, flush=True)

    say("loading the embedding model (all-MiniLM-L6-v2, packaged, offline)...")
    owned = cache is None
    cache = TieredLLMCache() if cache is None else cache
    core = cache.core
    if core.embeddings is not None:  # load the model now, so that it is not timed as a lookup
        core.embeddings.embedder.encode(["warm-up"])
    llm = SupportModel(model=model, latency_ms=latency_ms)
    app = (
        ChatPromptTemplate.from_messages([("system", SYSTEM_PROMPT), ("human", "{question}")]) | llm
    )
    previous = get_llm_cache()
    set_llm_cache(cache)
    say(f"sending {requests} requests through set_llm_cache(TieredLLMCache()) ...")
    latencies: dict[str, list[float]] = {"exact": [], "semantic": [], "miss": []}
    wrong: list[dict[str, Any]] = []
    bar = None if progress is None else Progress(requests, progress)
    started = time.perf_counter()
    try:
        for req in workload(requests, seed):
            t0 = time.perf_counter()
            reply = app.invoke({"question": req.question})
            elapsed_ms = 1e3 * (time.perf_counter() - t0)
            info = reply.response_metadata.get("tiered_cache") or {}
            tier = str(info.get("tier", "miss"))
            latencies[tier].append(elapsed_ms)
            if reply.content != llm.answer(req.question):
                wrong.append(
                    {
                        "question": req.question,
                        "matched": info.get("matched_query"),
                        "similarity": info.get("similarity"),
                    }
                )
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
        set_llm_cache(previous)
    wall = time.perf_counter() - started
    stats = core.stats()
    if owned:
        core.close()
    hits = latencies["exact"] + latencies["semantic"]
    price = core.plans.prices.price(model)
    return {
        "requests": requests,
        "model": model,
        "price_per_1m_tokens": None
        if price is None
        else {"input": price[1].input, "output": price[1].output},
        "simulated_latency_ms": latency_ms,
        "tiers": {
            tier: {
                "count": len(values),
                "share": round(len(values) / requests, 4) if requests else 0.0,
                "p50_ms": _p50(values),
            }
            for tier, values in latencies.items()
        },
        "p50_hit_ms": _p50(hits),
        "p50_miss_ms": _p50(latencies["miss"]),
        "llm_calls": llm.calls,
        "llm_calls_avoided": requests - llm.calls,
        "wrong_answers": len(wrong),
        "wrong_examples": wrong[:5],
        "tokens_saved": stats["tokens_saved"],
        "usd_saved": stats["usd_saved"],
        "wall_seconds": round(wall, 2),
        "seconds_without_cache": round(requests * latency_ms / 1000, 2),
        "threshold": stats["config"]["threshold"],
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_report(report: dict[str, Any]) -> str:
    """The report as the table `tiered-cache demo` prints."""
    n = report["requests"]
    tiers = report["tiers"]
    lines = [
        f"tiered-cache demo: {n} requests, LangChain set_llm_cache(TieredLLMCache()) (embedded),",
        f"a simulated {report['model']} taking {report['simulated_latency_ms']:.0f} ms per call",
        "",
        f"  {'':<16}{'requests':>9}{'share':>9}{'p50 latency':>14}",
    ]
    for tier, label in (("exact", "exact hits"), ("semantic", "semantic hits"), ("miss", "misses")):
        row = tiers[tier]
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.1f} ms"
        lines.append(f"  {label:<16}{row['count']:>9}{100 * row['share']:>8.1f}%{p50:>14}")
    avoided = report["llm_calls_avoided"]
    hit_p50, miss_p50 = report["p50_hit_ms"], report["p50_miss_ms"]
    lines += [
        "",
        f"  LLM calls avoided   {avoided} of {n} ({100 * avoided / n if n else 0:.1f}%)",
        f"  p50 latency         hit {_ms(hit_p50)} ms, miss {_ms(miss_p50)} ms",
        f"  tokens saved        {report['tokens_saved']:,}",
    ]
    price = report["price_per_1m_tokens"]
    priced = (
        f" (at ${price['input']}/${price['output']} per 1M input/output tokens)"
        if price
        else " (no price known for this model)"
    )
    lines.append(f"  money saved         ${report['usd_saved']:.4f}{priced}")
    lines.append(
        f"  wrong answers       {report['wrong_answers']} "
        f"(cached answers served for a different question)"
    )
    lines.append(
        f"  wall time           {report['wall_seconds']:.1f} s "
        f"(the model alone: {report['seconds_without_cache']:.1f} s)"
    )
    return "\n".join(lines)


__all__ = ["FAQ", "NEW_QUESTIONS", "SupportModel", "format_report", "run_demo", "workload"]
