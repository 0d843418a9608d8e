"""A script that builds a cache and exits at once exits cleanly: the embedding model, still
loading in the background, is waited for (bounded) instead of being torn down mid-construction
inside ONNX Runtime (which used to abort the process: exit 134, "terminate called without an
active exception")."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import clean_env

RUNS = 30
AT_ONCE = 4  # processes running together (each imports its framework: CPU-bound)

CORE = """
from tiered_cache import TieredCache
TieredCache()
"""

LANGCHAIN = """
import sys
from langchain_core.globals import set_llm_cache
from langchain_tiered_cache import TieredLLMCache
set_llm_cache(TieredLLMCache.from_url(sys.argv[1], namespace=sys.argv[2]))
"""

LLAMAINDEX = """
import llama_index.core
from llama_index.core.llms import MockLLM
from llamaindex_tiered_cache import cached_llm
cached_llm(MockLLM())
"""


def exit_codes(script: str, *args: str) -> list[tuple[int, str]]:
    def one(_: int) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(),
        )
        return done.returncode, done.stderr[-300:]

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(one, range(RUNS)))


def assert_all_clean(results: list[tuple[int, str]]) -> None:
    failed = [(code, err) for code, err in results if code != 0]
    assert not failed, f"{len(failed)}/{RUNS} exits failed, e.g. {failed[0]}"


@pytest.mark.slow
def test_thirty_core_caches_built_and_left_at_once_exit_0() -> None:
    assert_all_clean(exit_codes(CORE))


@pytest.mark.slow
@pytest.mark.redis
def test_thirty_langchain_scripts_on_redis_exit_0(redis_url: str, namespace: str) -> None:
    assert_all_clean(exit_codes(LANGCHAIN, redis_url, namespace))


@pytest.mark.slow
def test_thirty_llamaindex_scripts_exit_0() -> None:
    assert_all_clean(exit_codes(LLAMAINDEX))
