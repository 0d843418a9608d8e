"""pytest plugin: record LLM responses once, replay them in every later run.

    pytest --llm-cache=record     # call the models, write tests/llm_cache.jsonl
    pytest --llm-cache=replay     # never call a model; an unrecorded request fails the test
    pytest --llm-cache=off        # the default: the plugin does nothing

LangChain apps need nothing else: every test runs with `set_llm_cache(...)` on the recording.
Other code (LlamaIndex: `CachedLLM(llm, cache=llm_cache)`) takes the core cache from the
`llm_cache` fixture. Matching is exact only, so a replay is deterministic. Nothing heavy is
imported until a mode other than `off` is chosen; LangChain only when it is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..cache import TieredCache
    from .recording import Recording  # noqa: F401 (named in a string: the StashKey below)

MODES = ("record", "replay", "off")
DEFAULT_FILE = "tests/llm_cache.jsonl"
_CACHE = pytest.StashKey["Recording | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-cache", "record/replay of LLM responses (tiered-cache)")
    group.addoption(
        "--llm-cache",
        dest="llm_cache_mode",
        choices=MODES,
        default=None,
        help="record: call models and record their responses; replay: serve recorded responses "
        "and fail on any other request; off (default): do nothing",
    )
    group.addoption(
        "--llm-cache-file",
        dest="llm_cache_file",
        default=None,
        metavar="PATH",
        help=f"the recording, relative to the rootdir (default: {DEFAULT_FILE})",
    )
    parser.addini("llm_cache", "default --llm-cache mode", default="off")
    parser.addini("llm_cache_file", "default --llm-cache-file", default=DEFAULT_FILE)


def _mode(config: pytest.Config) -> str:
    mode = config.getoption("llm_cache_mode") or str(config.getini("llm_cache") or "off")
    if mode not in MODES:
        raise pytest.UsageError(f"llm_cache = {mode!r}: choose one of {', '.join(MODES)}")
    return mode


def pytest_configure(config: pytest.Config) -> None:
    mode = _mode(config)
    if mode == "off":
        config.stash[_CACHE] = None
        return
    if mode == "record" and hasattr(config, "workerinput"):
        raise pytest.UsageError("--llm-cache=record cannot run in parallel workers: drop -n")
    from .recording import Recording

    given = config.getoption("llm_cache_file") or str(config.getini("llm_cache_file"))
    path = Path(given)
    if not path.is_absolute():
        path = config.rootpath / path
    config.stash[_CACHE] = Recording(path, mode, display=given)  # type: ignore[arg-type]


def pytest_sessionfinish(session: pytest.Session) -> None:
    cache = session.config.stash.get(_CACHE, None)
    if cache is not None:
        cache.save()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    cache = config.stash.get(_CACHE, None)
    if cache is None:
        return
    if cache.mode == "record":
        terminalreporter.write_line(
            f"llm-cache: recorded {cache.recorded} response(s) into {cache.display} "
            f"({len(cache.records)} in the file)"
        )
    elif cache.misses:
        terminalreporter.write_line(
            f"llm-cache: {len(cache.misses)} request(s) not in {cache.display}; "
            "run with --llm-cache=record to add them"
        )


@pytest.fixture
def llm_cache(request: pytest.FixtureRequest) -> TieredCache | None:
    """The core cache over the recording (None with --llm-cache=off), for non-LangChain code."""
    recording = request.config.stash.get(_CACHE, None)
    return None if recording is None else recording.cache


@pytest.fixture(autouse=True)
def _tiered_cache_llm_recording(request: pytest.FixtureRequest) -> Iterator[None]:
    """Installs the recording as LangChain's global LLM cache for each test (when recording)."""
    cache = request.config.stash.get(_CACHE, None)
    if cache is None or importlib.util.find_spec("langchain_core") is None:
        yield
        return
    from langchain_core.globals import get_llm_cache, set_llm_cache

    from langchain_tiered_cache import TieredLLMCache as LangChainCache

    previous = get_llm_cache()
    set_llm_cache(LangChainCache(cache=cache.cache))
    try:
        yield
    finally:
        set_llm_cache(previous)
