"""Never break the LLM call, never lose or mix up an entry: faults, races and hostile input."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest
from tiered_cache import BackendError, InvalidRequestError, TieredCache

from ..conftest import CacheFactory, wait_for
from ..redis_server import RedisStackServer
from ..unit.fake_embedder import MapEmbedder
from .test_semantic_tier import TOPICS


class FakeLLM:
    """Counts calls; answers after a short delay."""

    def __init__(self, delay: float = 0.0, fail: int = 0) -> None:
        self.calls = 0
        self.delay = delay
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, question: str) -> str:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.fail
        time.sleep(self.delay)
        if failing:
            raise RuntimeError("LLM down")
        return f"answer to {question}"

    async def acall(self, question: str) -> str:
        with self._lock:
            self.calls += 1
        await asyncio.sleep(self.delay)
        return f"answer to {question}"


def test_fifty_concurrent_identical_misses_compute_once(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False)
    llm = FakeLLM(delay=0.3)
    req = cache.request("expensive question", model="m")
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(cache.get_or_compute(req, lambda: llm("q")).payload)
        )
        for _ in range(50)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llm.calls == 1
    assert results == ["answer to q"] * 50


def test_concurrent_tasks_compute_once(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False)
    llm = FakeLLM(delay=0.3)
    req = cache.request("expensive question", model="m")

    async def run() -> list[str]:
        served = await asyncio.gather(
            *(cache.aget_or_compute(req, lambda: llm.acall("q")) for _ in range(16))
        )
        return [s.payload for s in served]

    assert asyncio.run(run()) == ["answer to q"] * 16
    assert llm.calls == 1


STAMPEDE = """
import sys, threading, time
import redis
from tiered_cache import TieredCache

url, ns = sys.argv[1], sys.argv[2]
client = redis.Redis.from_url(url)
cache = TieredCache.from_url(url, namespace=ns, semantic=False, redis_timeout=2.0)
req = cache.request("the same expensive question", model="m")

def compute():
    client.incr(ns + "-llm-calls")
    time.sleep(0.5)
    return "the answer"

out = []
threads = [threading.Thread(target=lambda: out.append(cache.get_or_compute(req, compute).payload))
           for _ in range(13)]
deadline = time.monotonic() + 30
while not client.exists(ns + "-go") and time.monotonic() < deadline:
    time.sleep(0.005)
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sum(o == "the answer" for o in out))
"""


@pytest.mark.redis
def test_four_processes_compute_once_per_lease(redis_url: str, namespace: str) -> None:
    import subprocess
    import sys

    import redis

    client = redis.Redis.from_url(redis_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STAMPEDE, redis_url, namespace],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(3)  # let every process import and block on the start signal
    client.set(namespace + "-go", 1)
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-500:] for _, err in outputs]
    assert [int(out) for out, _ in outputs] == [13] * 4  # 52 callers, all answered
    assert int(client.get(namespace + "-llm-calls") or 0) == 1
    client.delete(namespace + "-go", namespace + "-llm-calls")


@pytest.mark.redis
def test_processes_share_a_lease(redis_url: str, namespace: str) -> None:
    # Two cache objects stand for two processes: they share only Redis.
    caches = [TieredCache.from_url(redis_url, namespace=namespace, semantic=False) for _ in "ab"]
    llm = FakeLLM(delay=0.4)
    req = caches[0].request("expensive question", model="m")
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda c=c: results.append(c.get_or_compute(req, lambda: llm("q")).payload)
        )
        for c in caches
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llm.calls == 1
    assert results == ["answer to q"] * 8
    caches[0].clear()


def test_a_failed_compute_releases_the_lease(make_cache: CacheFactory) -> None:
    cache = make_cache(semantic=False, lease_wait=5.0)
    req = cache.request("flaky", model="m")
    llm = FakeLLM(fail=1)
    with pytest.raises(RuntimeError, match="LLM down"):
        cache.get_or_compute(req, lambda: llm("q"))
    started = time.monotonic()
    assert cache.get_or_compute(req, lambda: llm("q")).payload == "answer to q"
    assert time.monotonic() - started < 1.0  # no wait on a stale lease
    assert llm.calls == 2


def test_no_lost_or_mixed_updates_under_contention(make_cache: CacheFactory) -> None:
    """32 threads and 32 asyncio tasks x 300 operations on 20 overlapping keys."""
    # 64 callers queue for the GIL: timeouts are not what this test is about.
    cache = make_cache(semantic=False, redis_timeout=5.0)
    keys = [f"shared question {i}" for i in range(20)]
    reqs = {k: cache.request(k, model="m") for k in keys}
    written: dict[str, set[str]] = {k: set() for k in keys}
    lock = threading.Lock()
    bad: list[Any] = []

    def step(rng: random.Random, worker: str, i: int) -> tuple[str, str | None]:
        key = rng.choice(keys)
        if rng.random() < 0.4:
            value = f"{key}|{worker}|{i}|" + "x" * rng.randint(0, 300)
            with lock:
                written[key].add(value)
            return key, value
        return key, None

    def check(key: str, hit: Any) -> None:
        if hit is not None and hit.payload not in written[key]:
            bad.append((key, hit.payload[:60]))

    def thread_worker(n: int) -> None:
        rng = random.Random(n)
        for i in range(300):
            key, value = step(rng, f"t{n}", i)
            if value is not None:
                cache.store(reqs[key], value)
            else:
                check(key, cache.lookup(reqs[key]))

    async def task_worker(n: int) -> None:
        rng = random.Random(1000 + n)
        for i in range(300):
            key, value = step(rng, f"a{n}", i)
            if value is not None:
                await cache.astore(reqs[key], value)
            else:
                check(key, await cache.alookup(reqs[key]))

    async def tasks() -> None:
        await asyncio.gather(*(task_worker(n) for n in range(32)))

    threads = [threading.Thread(target=thread_worker, args=(n,)) for n in range(32)]
    threads.append(threading.Thread(target=lambda: asyncio.run(tasks())))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
    assert cache.stats()["errors"] == 0
    for key in keys:  # the last write of every key is there, whole
        hit = cache.lookup(reqs[key])
        assert hit is not None and hit.payload in written[key]


@pytest.mark.redis
def test_redis_killed_mid_run_never_reaches_callers() -> None:
    """8 callers, 2,000 operations in three phases: Redis up, down, back up (empty).

    The phases are fenced by barriers, so every operation of the middle phase runs while Redis
    is down, whatever the scheduling: no counter is raced."""
    server = RedisStackServer().start()
    try:
        cache = TieredCache.from_url(
            server.url, namespace="fault", breaker_failures=3, breaker_cooldown=0.2
        )
        llm = FakeLLM()
        questions = [f"Explain the basics of {t} to a beginner." for t in TOPICS[:40]]
        errors: list[BaseException] = []
        done = [0]
        lock = threading.Lock()
        workers = 8
        phase = threading.Barrier(workers + 1, timeout=120)
        per_phase = (84, 83, 83)  # 8 x 250 operations

        def worker(n: int) -> None:
            rng = random.Random(n)
            for count in per_phase:
                phase.wait()  # main changes the server between phases
                for _ in range(count):
                    q = rng.choice(questions)
                    req = cache.request(q, model="m")
                    try:
                        hit = cache.lookup(req)
                        answer = hit.payload if hit else llm(q)
                        if hit is None:
                            cache.store(req, answer)
                        assert answer == f"answer to {q}"
                    except BaseException as exc:
                        errors.append(exc)
                    with lock:
                        done[0] += 1
                phase.wait()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
        for t in threads:
            t.start()
        phase.wait()  # phase 1: Redis up
        phase.wait()
        errors_before = cache.stats()["errors"]
        server.stop()
        listener = cache.backends.entries._listener  # type: ignore[attr-defined]
        # The near cache must have noticed, or phase 2 could be served from it alone.
        wait_for(lambda: not listener.connected.is_set(), "the near cache to go offline")
        phase.wait()  # phase 2: Redis down
        phase.wait()
        errors_down = cache.stats()["errors"]
        server.start()
        restarted = time.monotonic()
        phase.wait()  # phase 3: Redis back, empty
        phase.wait()
        for t in threads:
            t.join()
        assert errors == []
        assert done[0] == 2000
        assert errors_down > errors_before  # the failures were seen, counted, and swallowed
        # After the restart hits resume (the server came back empty; the breaker probes it).
        req = cache.request(questions[0], model="m")

        def stored_and_served() -> bool:
            cache.store(req, "answer again")
            hit = cache.lookup(req)
            return hit is not None and hit.payload == "answer again"

        wait_for(stored_and_served, "exact hits after the restart")
        assert time.monotonic() - restarted < 60
        paraphrase = cache.request(
            f"Explain the basics of {TOPICS[0]} to a total beginner.", model="m"
        )
        served: list[Any] = []

        def paraphrase_served() -> bool:  # the index is rebuilt
            served[:] = [cache.lookup(paraphrase)]
            return served[0] is not None

        wait_for(paraphrase_served, "a semantic hit after the index is rebuilt")
        assert served[0].payload == "answer again"
        assert served[0].tier == "semantic"
        cache.close()
    finally:
        server.stop()


@pytest.mark.redis
def test_redis_down_at_start_then_up(namespace: str) -> None:
    server = RedisStackServer()
    cache = TieredCache.from_url(server.url, namespace=namespace, breaker_cooldown=0.1)
    req = cache.request("What is the capital of France?", model="m")
    assert cache.lookup(req) is None
    assert cache.store(req, "Paris") is False
    server.start()
    try:
        time.sleep(0.15)
        assert cache.store(req, "Paris") is True
        hit = cache.lookup(cache.request("What's the capital city of France?", model="m"))
        assert hit is not None and hit.payload == "Paris"
    finally:
        cache.close()
        server.stop()


@pytest.mark.redis
def test_vanished_index_is_rebuilt(redis_url: str, namespace: str) -> None:
    import redis

    cache = TieredCache.from_url(redis_url, namespace=namespace)
    cache.store(cache.request("What is the capital of France?", model="m"), "Paris")
    redis.Redis.from_url(redis_url).execute_command("FT.DROPINDEX", cache.redis.keys.index_name)
    para = cache.request("What's the capital city of France?", model="m")
    assert cache.lookup(para) is None  # the search failed: a miss, not an error
    deadline = time.monotonic() + 5
    hit = cache.lookup(para)
    while hit is None and time.monotonic() < deadline:
        time.sleep(0.1)
        hit = cache.lookup(para)
    assert hit is not None and hit.payload == "Paris"
    cache.clear()


@pytest.mark.redis
@pytest.mark.parametrize("evil", ["a*", "a?", "[ab]", "x\\*", "t{1}", "@part{x}|y", "-(x)~%"])
def test_glob_and_query_characters_in_namespaces(redis_url: str, evil: str) -> None:
    victim = TieredCache.from_url(redis_url, namespace=evil.replace("*", "Z") + "b")
    victim_req = victim.request("keep me", model="m")
    victim.store(victim_req, "kept")
    other = TieredCache.from_url(redis_url, namespace="ab")
    other.store(other.request("keep me", model="m"), "kept too")
    attacker = TieredCache.from_url(redis_url, namespace=evil)
    attacker.store(attacker.request("keep me", model="m"), "attacker's")
    attacker.clear()
    hit = victim.lookup(victim_req)
    assert hit is not None and hit.payload == "kept"
    other_hit = other.lookup(other.request("keep me", model="m"))
    assert other_hit is not None and other_hit.payload == "kept too"
    assert attacker.lookup(attacker.request("keep me", model="m")) is None
    para = attacker.lookup(attacker.request("please keep me", model="m"))
    assert para is None
    victim.clear()
    other.clear()


def test_hostile_input(make_cache: CacheFactory) -> None:
    cache = make_cache(max_prompt_chars=1_000_000)
    with pytest.raises(InvalidRequestError, match="max_prompt_chars"):
        cache.request("x" * 10_000_001, model="m")
    with pytest.raises(InvalidRequestError):
        cache.request([{"role": "user", "content": b"bytes"}], model="m")  # type: ignore[list-item]
    weird = cache.request("lone \ud800 surrogate and NUL \x00 byte", model="m")
    assert cache.store(weird, "ok \x00 payload") is True
    hit = cache.lookup(cache.request("lone \ud800 surrogate and NUL \x00 byte", model="m"))
    assert hit is not None and hit.payload == "ok \x00 payload"
    req = cache.request("fine", model="m")
    with pytest.raises(InvalidRequestError):
        cache.store(req, "bad \udfff payload")
    with pytest.raises(InvalidRequestError):
        cache.store(req, 42)  # type: ignore[arg-type]
    assert cache.stats()["errors"] == 0


@pytest.mark.redis
def test_admin_calls_on_a_dead_redis_raise_backend_error() -> None:
    """What the caller asked for directly (explain, clear, the threshold) says the backend
    failed in our own error type, never a raw client exception."""
    server = RedisStackServer().start()
    try:
        cache = TieredCache.from_url(server.url, namespace="admin", embedder=MapEmbedder())
        req = cache.request("What is the capital of France?", model="m")
        cache.store(req, "Paris.")
        server.stop()
        with pytest.raises(BackendError):
            cache.explain(req)
        with pytest.raises(BackendError):
            cache.clear()
        assert cache.current_threshold(req.partition_key) > 0  # this process's value
        assert cache.stats()["errors"] >= 1
        cache.close()
    finally:
        server.stop()
