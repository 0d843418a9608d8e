"""Two processes share one cache on Redis: what one stores, the other is served.

    python examples/shared_redis.py redis://localhost:6379

Needs Redis Stack >= 7.4 or Redis >= 8 (a plain Redis serves the exact tier only).
"""

from __future__ import annotations

import multiprocessing
import sys
import uuid

from tiered_cache import TieredCache


def writer(url: str, namespace: str) -> None:
    cache = TieredCache.from_url(url, namespace=namespace)
    request = cache.request("What is the capital of France?", model="gpt-4o-mini")
    cache.store(request, "Paris.", usage={"input_tokens": 20, "output_tokens": 3})
    print("writer process: stored the answer")
    cache.close()


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://localhost:6379"
    namespace = f"example-{uuid.uuid4().hex[:8]}"
    child = multiprocessing.get_context("spawn").Process(target=writer, args=(url, namespace))
    child.start()
    child.join()
    cache = TieredCache.from_url(url, namespace=namespace)
    for question in ("What is the capital of France?", "What's the capital city of France?"):
        hit = cache.lookup(cache.request(question, model="gpt-4o-mini"))
        assert hit is not None, "the other process's answer was not found"
        print(f"reader process: {question!r} -> {hit.payload!r} ({hit.tier})")
    cache.clear()
    cache.close()


if __name__ == "__main__":
    main()
