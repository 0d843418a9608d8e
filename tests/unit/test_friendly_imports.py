"""Importing an adapter without its framework says which install works, in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("adapter", "framework", "install"),
    [
        ("langchain_tiered_cache", "langchain_core", "pip install '.[langchain,embeddings]'"),
        ("llamaindex_tiered_cache", "llama_index", "pip install '.[llamaindex,embeddings]'"),
    ],
)
def test_an_adapter_without_its_framework_names_the_install(
    adapter: str, framework: str, install: str
) -> None:
    # None in sys.modules: the import of the framework fails as if it were not installed.
    code = f"import sys; sys.modules[{framework!r}] = None; import {adapter}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ModuleNotFoundError: {adapter} needs "), last
    assert f"{install} in a clone of tiered-cache" in last
    assert "No module named" not in result.stderr
    assert "During handling" not in result.stderr  # not chained to the raw error


def test_a_redis_url_without_the_redis_extra_names_the_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from tiered_cache import TieredCache, ConfigurationError\n"
        "try:\n"
        "    TieredCache(redis_url='redis://127.0.0.1:1', semantic=False)\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "pip install '.[redis]' in a clone of tiered-cache" in result.stdout
    assert "tiered-cache[redis]" not in result.stdout
