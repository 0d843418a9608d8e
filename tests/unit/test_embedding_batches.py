"""Async embedding: one encode in flight per event loop; later callers form the next batch."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
from tiered_cache.embedder import EmbeddingService


class SlowEmbedder:
    """Takes `seconds` per encode and records each batch and how many ran at once."""

    model_id = "slow"
    dimension = 4

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.batches: list[list[str]] = []
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.seconds)
        with self._lock:
            self.active -= 1
            self.batches.append(list(texts))
        return np.full((len(texts), self.dimension), 0.5, dtype=np.float32)


def test_callers_arriving_during_an_encode_share_the_next_one() -> None:
    embedder = SlowEmbedder(0.3)
    service = EmbeddingService(embedder, window_ms=1)

    async def run() -> list[Any]:
        first = asyncio.create_task(service.aembed("first"))
        await asyncio.sleep(0.05)  # the first encode is in flight
        wave = [asyncio.create_task(service.aembed(f"a{i}")) for i in range(10)]
        await asyncio.sleep(0.02)
        wave += [asyncio.create_task(service.aembed(f"b{i}")) for i in range(5)]
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
        def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
            if "bad" in texts:
                time.sleep(0.2)
                raise RuntimeError("model failed")
            return super().encode(texts)

    embedder = Flaky(0.0)
    service = EmbeddingService(embedder, window_ms=1)

    async def run() -> tuple[Any, Any]:
        bad = asyncio.create_task(service.aembed("bad"))
        await asyncio.sleep(0.05)
        good = asyncio.create_task(service.aembed("good"))
        return await asyncio.gather(bad, good, return_exceptions=True)

    bad, good = asyncio.run(run())
    assert isinstance(bad, RuntimeError)
    assert good.shape == (4,)
