"""Async embedding: one encode in flight per event loop; later callers form the next batch."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
from tiered_cache.embeddings.embedder import EmbeddingService


class SlowEmbedder:
    """Takes `seconds` per encode (or, gated, until the test opens the gate) and records each
    batch and how many ran at once."""

    model_id = "slow"
    dimension = 4

    def __init__(self, seconds: float, gated: bool = False) -> None:
        self.seconds = seconds
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.batches: list[list[str]] = []
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.seconds)
        assert self.gate.wait(30), "the test never opened the gate"
        with self._lock:
            self.active -= 1
            self.batches.append(list(texts))
        return np.full((len(texts), self.dimension), 0.5, dtype=np.float32)


async def until(condition: Any, timeout: float = 30.0) -> None:
    """Yield to the loop until `condition()` holds (bounded: fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.001)


def test_callers_arriving_during_an_encode_share_the_next_one() -> None:
    embedder = SlowEmbedder(0.0, gated=True)
    service = EmbeddingService(embedder, window_ms=1)

    async def run() -> list[Any]:
        first = asyncio.create_task(service.aembed("first"))
        await until(lambda: embedder.active == 1)  # the first encode is in flight
        wave = [asyncio.create_task(service.aembed(f"a{i}")) for i in range(10)]
        await asyncio.sleep(0.01)
        wave += [asyncio.create_task(service.aembed(f"b{i}")) for i in range(5)]
        await asyncio.sleep(0.01)  # every caller is queued behind the gated encode
        embedder.gate.set()
        return await asyncio.gather(first, *wave)

    vectors = asyncio.run(run())
    assert len(vectors) == 16 and all(v.shape == (4,) for v in vectors)
    assert [len(b) for b in embedder.batches] == [1, 15]
    assert embedder.most_active == 1


def test_an_idle_service_still_waits_one_window_for_company() -> None:
    embedder = SlowEmbedder(0.0)
    service = EmbeddingService(embedder, window_ms=50)

    async def run() -> None:
        await asyncio.gather(*(service.aembed(f"t{i}") for i in range(8)))
        await service.aembed("t0")  # memoized: no encode

    asyncio.run(run())
    assert [len(b) for b in embedder.batches] == [8]


def test_a_failed_encode_fails_its_callers_and_the_next_batch_still_runs() -> None:
    class Flaky(SlowEmbedder):
        started = threading.Event()

        def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
            if "bad" in texts:
                self.started.set()
                assert self.gate.wait(30)
                raise RuntimeError("model failed")
            return super().encode(texts)

    embedder = Flaky(0.0, gated=True)
    service = EmbeddingService(embedder, window_ms=1)

    async def run() -> tuple[Any, Any]:
        bad = asyncio.create_task(service.aembed("bad"))
        await until(embedder.started.is_set)  # "bad" is being encoded alone
        good = asyncio.create_task(service.aembed("good"))
        await asyncio.sleep(0.01)
        embedder.gate.set()
        return await asyncio.gather(bad, good, return_exceptions=True)

    bad, good = asyncio.run(run())
    assert isinstance(bad, RuntimeError)
    assert good.shape == (4,)
