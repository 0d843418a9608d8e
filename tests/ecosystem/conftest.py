"""Helpers of the ecosystem tests: the real `tiered-cache` entry point in a subprocess, and a small
deterministic embedder for fast semantic tests without the real model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CLI = [sys.executable, "-m", "tiered_cache.tools.cli"]


def run_app_tests(app: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A sample app's test suite, run in process with our record/replay plugin alone: plugins
    installed beside it (pytest-asyncio's start-up warnings, plugins that rewrite the terminal
    summary) are not what is tested."""
    from tiered_cache.tools import pytest_plugin

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        return app.runpytest("-p", "no:cacheprovider", *args, plugins=[pytest_plugin])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without TIERED_CACHE_* settings of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERED_CACHE_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"})
    env.update(extra)
    return env


def run_cli(
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    stdin: Any = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        input=input,
        stdin=stdin if input is None else None,
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=timeout,
        check=False,
    )


class WordEmbedder:
    """Bag of words hashed into 64 dimensions: texts sharing words are similar, deterministic."""

    model_id = "test-words"
    dimension = 64

    def encode(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


@pytest.fixture
def word_embedder() -> WordEmbedder:
    return WordEmbedder()
