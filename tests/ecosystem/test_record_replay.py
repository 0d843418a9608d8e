"""The record/replay pytest plugin, run on a sample app's test suite with pytester."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiered_cache import ConfigurationError
from tiered_cache.tools.recording import LLMCacheMiss, Recording

from .conftest import run_app_tests

pytest_plugins = ["pytester"]

APP = '''
import os

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class PricyModel(BaseChatModel):
    """Stands for a paid API: raises when the tests run offline (as replay does)."""

    model: str = "gpt-4o-mini"

    @classmethod
    def is_lc_serializable(cls):
        return True

    @property
    def _llm_type(self):
        return "pricy"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        if os.environ.get("APP_LLM_OFFLINE"):
            raise RuntimeError("the LLM was called")
        text = "Answer: " + messages[-1].text
        usage = {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
        message = AIMessage(text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


def call_api(prompt):
    if os.environ.get("APP_LLM_OFFLINE"):
        raise RuntimeError("the LLM was called")
    return "Summary: " + prompt


def ask(question):
    return PricyModel().invoke(question).content


async def aask(question):
    return (await PricyModel().ainvoke(question)).content
'''

TESTS = """
import asyncio

from app import aask, ask, call_api


def test_capital():
    assert ask("What is the capital of France?") == "Answer: What is the capital of France?"


def test_async_and_repeat():
    assert asyncio.run(aask("Name a prime number.")) == "Answer: Name a prime number."
    assert ask("Name a prime number.") == "Answer: Name a prime number."


def test_core_cache_for_other_frameworks(llm_cache):
    request = llm_cache.request("Summarize the report.", model="house-model")
    served = llm_cache.get_or_compute(request, lambda: call_api("the report"))
    assert served.payload == "Summary: the report"
"""

NEW = """
from app import ask


def test_new_question():
    assert ask("What is the capital of Peru?") == "Answer: What is the capital of Peru?"
"""


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.makepyfile(app=APP)
    tests = pytester.mkdir("tests")
    (tests / "test_app.py").write_text(TESTS)
    return pytester


def recording(pytester: pytest.Pytester) -> Path:
    return pytester.path / "tests" / "llm_cache.jsonl"


def test_replay_after_record_never_calls_the_llm(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_LLM_OFFLINE", raising=False)
    result = run_app_tests(app, "--llm-cache=record")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*llm-cache: recorded 3 response(s) into tests/llm_cache.jsonl*"])
    path = recording(app)
    text = path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    assert [r["key"] for r in lines] == sorted(r["key"] for r in lines)  # stable order
    for raw in text.splitlines():  # sorted keys: diff-friendly
        assert raw == json.dumps(json.loads(raw), sort_keys=True, ensure_ascii=False)
    queries = {r["query"]: r for r in lines}
    assert set(queries) == {
        "What is the capital of France?",
        "Name a prime number.",
        "Summarize the report.",
    }
    assert "PricyModel" in queries["What is the capital of France?"]["model"]
    assert queries["Summarize the report."]["payload"] == "Summary: the report"

    monkeypatch.setenv("APP_LLM_OFFLINE", "1")
    # The plugin warns about nothing of its own: it runs clean with warnings as errors.
    result = run_app_tests(app, "--llm-cache=replay", "-W", "error")
    result.assert_outcomes(passed=3)
    assert "the LLM was called" not in result.stdout.str()
    assert path.read_text() == text  # replay never writes

    monkeypatch.delenv("APP_LLM_OFFLINE")
    result = run_app_tests(app, "--llm-cache=record")
    result.assert_outcomes(passed=3)
    assert path.read_text() == text  # nothing new: the recording is unchanged

    monkeypatch.setenv("APP_LLM_OFFLINE", "1")
    result = run_app_tests(app, "--llm-cache=off")
    result.assert_outcomes(passed=0, failed=3)  # off: the model is called


def test_replay_fails_loudly_on_an_unrecorded_request(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_LLM_OFFLINE", raising=False)
    run_app_tests(app, "--llm-cache=record").assert_outcomes(passed=3)
    (app.path / "tests" / "test_new.py").write_text(NEW)
    monkeypatch.setenv("APP_LLM_OFFLINE", "1")
    result = run_app_tests(app, "--llm-cache=replay")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*LLMCacheMiss: not in tests/llm_cache.jsonl: What is the capital of Peru?*",
            "*llm-cache: 1 request(s) not in tests/llm_cache.jsonl*",
        ]
    )
    assert "the LLM was called" not in result.stdout.str()


def test_file_option_and_ini(app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_LLM_OFFLINE", raising=False)
    app.makeini("[pytest]\npythonpath = .\nllm_cache = record\nllm_cache_file = rec/llm.jsonl\n")
    run_app_tests(app).assert_outcomes(passed=3)
    assert len((app.path / "rec" / "llm.jsonl").read_text().splitlines()) == 3
    monkeypatch.setenv("APP_LLM_OFFLINE", "1")
    custom = app.path / "elsewhere.jsonl"
    custom.write_text((app.path / "rec" / "llm.jsonl").read_text())
    result = run_app_tests(app, "--llm-cache=replay", f"--llm-cache-file={custom}")
    result.assert_outcomes(passed=3)


def test_recording_cache_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = Recording(path, "record")
    cache = recorder.cache
    requests = [cache.request(f"question {i}", model="m") for i in range(5)]
    for i, req in enumerate(reversed(requests)):
        assert cache.lookup(req) is None
        assert cache.store(req, f"answer {4 - i}", usage={"total_tokens": i})
    assert recorder.save()
    keys = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    assert keys == sorted(keys)
    replayer = Recording(path, "replay")
    replay = replayer.cache
    for i, req in enumerate(requests):
        assert replay.lookup(req).payload == f"answer {i}"  # type: ignore[union-attr]
    with pytest.raises(LLMCacheMiss, match=r"not in .*rec.jsonl: question 9"):
        replay.lookup(replay.request("question 9", model="m"))
    with pytest.raises(LLMCacheMiss):  # get_or_compute never computes in a replay
        replay.get_or_compute(replay.request("question 9", model="m"), lambda: "computed")
    assert not replay.store(requests[0], "changed") and not replayer.save()
    path.write_text("not json\n")
    with pytest.raises(ConfigurationError, match=r"rec\.jsonl:1"):
        Recording(path, "replay")
