"""Start-up is quiet: building a cache, loading its model and the first lookups print nothing
(on either embedding backend), and the model can wait for the first semantic operation."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import tiered_cache, langchain_tiered_cache
cache = tiered_cache.TieredCache(embedding_backend={backend!r})
assert cache.wait_ready(120)
cache.store(cache.request("What is the capital of France?", model="m"), "Paris.")
hit = cache.lookup(cache.request("What's the capital of France?", model="m"))
assert hit is not None and hit.payload == "Paris.", hit
langchain_tiered_cache.TieredLLMCache(semantic=False)
"""


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_building_a_cache_prints_nothing(backend: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(backend=backend)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


LAZY = """
import tiered_cache
cache = tiered_cache.TieredCache(preload=False, embedding_backend="onnx")
assert not cache.wait_ready(0.5), "loaded without being asked"
cache.lookup(cache.request("hello", model="m"))  # a semantic lookup: the model loads now
assert cache.wait_ready(0)
eager = tiered_cache.TieredCache()  # the default: loading starts in the background
assert eager.wait_ready(120)
"""


def test_preload_false_loads_on_the_first_semantic_operation() -> None:
    done = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
