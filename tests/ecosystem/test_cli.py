"""Every `tiered-cache` command through the real entry point, in a subprocess, on both backends."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from tiered_cache import TieredCache

from .conftest import CLI, clean_env, run_cli

LINES = [
    {"prompt": "How do I reset my password?", "response": "Use the link.", "model": "gpt-4o-mini"},
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where are your data centers?"},
        ],
        "response": "Frankfurt and Virginia.",
        "model": "gpt-4o-mini",
        "params": {"temperature": 0},
    },
    {"prompt": "Do you offer a free trial?", "response": "Yes, 14 days."},
]


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    path = tmp_path / "faq.jsonl"
    lines = [json.dumps(x) for x in LINES] + ["not json", json.dumps({"prompt": "no response"})]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def redis_args(redis_url: str, namespace: str) -> Iterator[list[str]]:
    """Global options of a unique Redis namespace, deleted afterwards."""
    yield ["--redis-url", redis_url, "--namespace", namespace]
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"tc:{{{namespace}}}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def as_json(result: subprocess.CompletedProcess[str], code: int = 0) -> dict:  # type: ignore[type-arg]
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# -- stats -----------------------------------------------------------------------------------------
def test_stats_embedded(tmp_path: Path) -> None:
    data = as_json(run_cli("--json", "stats", cwd=tmp_path))
    assert data["backend"] == "embedded" and data["shared"] is None
    assert data["process"]["lookups"] == 0
    text = run_cli("stats", cwd=tmp_path)
    assert text.returncode == 0 and "embedded cache lives inside the process" in text.stdout


def test_stats_from_env_settings(tmp_path: Path) -> None:
    env = clean_env(TIERED_CACHE_NAMESPACE="from-env")
    data = as_json(run_cli("stats", "--json", cwd=tmp_path, env=env))  # options after COMMAND too
    assert data["namespace"] == "from-env"
    bad = run_cli("stats", cwd=tmp_path, env=clean_env(TIERED_CACHE_THRESHOLD="high"))
    assert bad.returncode == 2 and "TIERED_CACHE_THRESHOLD" in bad.stderr


@pytest.mark.redis
def test_stats_redis_reports_other_processes(
    redis_url: str, namespace: str, redis_args: list[str]
) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    req = cache.request("What is the capital of France?", model="gpt-4o-mini")
    cache.lookup(req)
    cache.store(req, "Paris.", usage={"input_tokens": 1000, "output_tokens": 100})
    cache.lookup(req)
    cache.lookup(req)
    cache.close()
    data = as_json(run_cli(*redis_args, "--json", "stats"))
    shared = data["shared"]
    assert data["backend"] == "redis" and data["redis_url"] == redis_url
    assert shared["entries"] == 1 and shared["entry_hits"] == 2
    assert (shared["exact_hits"], shared["misses"], shared["stores"]) == (2, 1, 1)
    assert shared["tokens_saved"] == 2200
    assert shared["usd_saved"] == pytest.approx(2 * (1000 * 0.15 + 100 * 0.6) / 1e6)
    text = run_cli(*redis_args, "stats").stdout
    assert "entries        1" in text and "exact hits     2" in text and "2,200 tokens" in text


@pytest.mark.redis
def test_stats_redis_down_is_a_clear_error(tmp_path: Path) -> None:
    from ..redis_server import free_port

    result = run_cli("--redis-url", f"redis://127.0.0.1:{free_port()}", "stats", cwd=tmp_path)
    assert result.returncode == 2 and "tiered-cache: error: cannot reach Redis at" in result.stderr


# -- warm ------------------------------------------------------------------------------------------
def test_warm_embedded(faq: Path, tmp_path: Path) -> None:
    env = clean_env(TIERED_CACHE_SEMANTIC="false")  # exact tier only: no model to load
    result = run_cli("--json", "warm", str(faq), cwd=tmp_path, env=env)
    assert result.returncode == 1  # two lines rejected: a partial failure, the rest stored
    assert json.loads(result.stdout) == {
        "lines": 5,
        "stored": 3,
        "skipped": 0,
        "invalid": 2,
        "failed": 0,
    }
    assert f"{faq}:4:" in result.stderr and f'{faq}:5: "response" must be a string' in result.stderr
    assert "embedded cache" in run_cli("warm", str(faq), cwd=tmp_path, env=env).stdout
    missing = run_cli("warm", str(tmp_path / "nope.jsonl"), cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.redis
@pytest.mark.slow
def test_warm_then_inspect_redis(
    faq: Path, redis_url: str, namespace: str, redis_args: list[str]
) -> None:
    """warm is resumable and its entries serve paraphrases; inspect shows why (one model load
    per subprocess is the cost of this test, so the two commands share it)."""
    first = as_json(run_cli(*redis_args, "--json", "warm", str(faq), "--batch-size", "2"), 1)
    assert (first["stored"], first["skipped"], first["invalid"]) == (3, 0, 2)
    exact_only = clean_env(TIERED_CACHE_SEMANTIC="false")  # no model to load: a faster check
    again = as_json(run_cli(*redis_args, "--json", "warm", str(faq), env=exact_only), 1)
    assert (again["stored"], again["skipped"]) == (0, 3)  # an interrupted run resumes
    cache = TieredCache.from_url(redis_url, namespace=namespace, verifier=False)
    hit = cache.lookup(cache.request("How do I reset my password?", model="gpt-4o-mini"))
    assert hit is not None and hit.payload == "Use the link." and hit.tier == "exact"
    system = {"role": "system", "content": "Be brief."}
    asked = [system, {"role": "user", "content": "Where are your data centres?"}]
    hit = cache.lookup(cache.request(asked, model="gpt-4o-mini", params={"temperature": 0}))
    assert hit is not None and hit.payload == "Frankfurt and Virginia." and hit.tier == "semantic"
    default_model = cache.request("Do you offer a free trial?", model="default")
    assert cache.lookup(default_model).payload == "Yes, 14 days."  # type: ignore[union-attr]
    cache.close()

    # inspect, on the same warmed namespace: read-only, with the nearest candidates.
    question = ["How can I reset my password?", "--model", "gpt-4o-mini"]
    report = as_json(run_cli(*redis_args, "--json", "inspect", *question))
    assert report["served"]["tier"] == "semantic"
    assert report["served"]["payload_preview"] == "Use the link."
    assert report["candidates"][0]["query"] == "How do I reset my password?"
    exact = as_json(run_cli(*redis_args, "--json", "inspect", *question[:1], env=exact_only))
    assert exact["served"] is None and exact["reason"].startswith("miss")


# -- clear -----------------------------------------------------------------------------------------
def test_clear_embedded(tmp_path: Path) -> None:
    refused = run_cli("clear", cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "without --yes (stdin is not a terminal)" in refused.stderr
    done = as_json(run_cli("--json", "clear", "--yes", cwd=tmp_path))
    assert done["cleared"] is True and done["entries_deleted"] is None


def run_on_tty(args: list[str], answer: str) -> subprocess.CompletedProcess[str]:
    """The CLI with a terminal on stdin that types `answer`."""
    main, child = pty.openpty()
    try:
        os.write(main, answer.encode())
        return subprocess.run(
            [*CLI, *args],
            stdin=child,
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(main)
        os.close(child)


@pytest.mark.redis
def test_clear_redis_asks_and_deletes_only_this_namespace(
    redis_url: str, namespace: str, redis_args: list[str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    other = TieredCache.from_url(redis_url, namespace=f"{namespace}-other", semantic=False)
    other.store(other.request("kept", model="m"), "kept")
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    for i in range(3):
        cache.store(cache.request(f"question {i}", model="m"), f"answer {i}")
    cache.lookup(cache.request("question 0", model="m"))
    cache.close()

    refused = run_cli(*redis_args, "clear", stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "refusing" in refused.stderr
    declined = run_on_tty([*redis_args, "clear"], "n\n")
    assert declined.returncode == 1 and "aborted" in declined.stderr
    assert "Delete every entry of namespace" in declined.stderr
    assert len(list(client.scan_iter(match=f"tc:{{{namespace}}}:v1:e:*"))) == 3

    confirmed = run_on_tty([*redis_args, "clear"], "y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "3 entries deleted" in confirmed.stdout
    assert list(client.scan_iter(match=f"tc:{{{namespace}}}:v1:e:*")) == []
    assert client.exists(f"tc:{{{namespace}}}:v1:stats")  # counters survive a clear ...
    done = as_json(run_cli(*redis_args, "--json", "clear", "--yes", "--reset-stats"))
    assert done["entries_deleted"] == 0 and done["stats_reset"] is True
    assert not client.exists(f"tc:{{{namespace}}}:v1:stats")  # ... unless reset
    assert other.lookup(other.request("kept", model="m")).payload == "kept"  # type: ignore[union-attr]
    other.clear()
    other.close()
    client.close()


def test_clear_by_tag_model_and_age_counts_first(
    redis_url: str, namespace: str, redis_args: list[str]
) -> None:
    cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
    for i in range(3):
        cache.store(cache.request(f"question {i}", model="m"), f"answer {i}", tags="doc-1")
    cache.store(cache.request("question 3", model="m"), "answer 3", tags="doc-2")
    cache.store(cache.request("question 4", model="other"), "answer 4")
    counted = as_json(run_cli(*redis_args, "--json", "clear", "--tag", "doc-1", "--dry-run"))
    assert counted == {"dry_run": True, "matching": 3, "deleted": 0}
    refused = run_cli(*redis_args, "clear", "--tag", "doc-1", stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "refusing to delete 3 entries" in refused.stderr
    done = run_cli(*redis_args, "clear", "--tag", "doc-1", "--tag", "doc-2", "--yes")
    assert done.returncode == 0 and "deleted 4 entries" in done.stdout, done.stderr
    old = run_cli(*redis_args, "clear", "--model", "other", "--older-than", "7d", "--yes")
    assert old.returncode == 0 and "0 entries" in old.stdout  # stored just now: kept
    hit = cache.lookup(cache.request("question 4", model="other"))
    assert hit is not None and hit.payload == "answer 4"
    assert cache.lookup(cache.request("question 0", model="m")) is None
    bad = run_cli(*redis_args, "clear", "--older-than", "a week", "--yes")
    assert bad.returncode == 2 and "age" in bad.stderr and "Traceback" not in bad.stderr
    cache.close()


# -- inspect ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_inspect_embedded_with_load(faq: Path, tmp_path: Path) -> None:
    args = ["inspect", "Do you have a free trial?", "--load", str(faq), "-k", "3"]
    text = run_cli(*args, cwd=tmp_path).stdout
    # the other stored questions live in other partitions (other model, other system prompt)
    assert "candidates     (nearest first, in this partition)" in text
    assert text.count("'Do you offer a free trial?'") == 1 and "'Where are" not in text
    assert "exact entry    no" in text and "model          default" in text
    assert "verdict        " in text and "reason         " in text
    args = ["--json", "inspect", "Do you offer a free trial?", "--load", str(faq)]
    env = clean_env(TIERED_CACHE_SEMANTIC="false")
    exact = as_json(run_cli(*args, cwd=tmp_path, env=env))["served"]
    assert exact["tier"] == "exact" and exact["payload_preview"] == "Yes, 14 days."


def test_inspect_exact_only_embedded(tmp_path: Path) -> None:
    env = clean_env(TIERED_CACHE_SEMANTIC="false")
    args = ["--json", "inspect", "hello", "--params", '{"temperature": 0.7}']
    report = as_json(run_cli(*args, cwd=tmp_path, env=env))
    assert report["served"] is None and report["semantic_tier"] is False
    bad = run_cli("inspect", "hello", "--params", "{nope", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "--params is not JSON" in bad.stderr


# -- calibrate -------------------------------------------------------------------------------------
def test_calibrate_without_pairs_shows_its_usage(tmp_path: Path) -> None:
    result = run_cli("calibrate", cwd=tmp_path)
    assert result.returncode == 0 and "pairs" in result.stdout


@pytest.mark.slow
def test_calibrate_delegates_to_the_calibration_module(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        ("How do I reset my password?", "How can I reset my password?", True),
        ("Is there a free trial?", "Do you offer a free trial?", True),
        ("Where are your data centers?", "Where are your data centres located?", True),
        ("How do I cancel my plan?", "How do I upgrade my plan?", False),
        ("What is the capital of France?", "What is the capital of Spain?", False),
        ("How much is the Pro plan per month?", "How much is the Pro plan per year?", False),
    ]
    lines = [json.dumps({"a": a, "b": b, "duplicate": d}) for a, b, d in rows]
    pairs.write_text("\n".join(lines) + "\n")
    result = run_cli("calibrate", str(pairs), "--plot", "", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr  # 1: the target precision was not reached
    assert "use: TieredCache(threshold=" in result.stdout


# -- demo ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_runs_with_no_server(tmp_path: Path) -> None:
    started = time.monotonic()
    env = clean_env(REDIS_URL="")
    args = ["--json", "demo", "--requests", "150", "--latency-ms", "20"]
    result = run_cli(*args, cwd=tmp_path, env=env, timeout=120)
    report = as_json(result)
    tiers = report["tiers"]
    assert sum(t["count"] for t in tiers.values()) == report["requests"] == 150
    assert tiers["exact"]["count"] > 20 and tiers["semantic"]["count"] > 10
    assert report["llm_calls"] == tiers["miss"]["count"]
    assert report["llm_calls_avoided"] == 150 - report["llm_calls"]
    assert report["wrong_answers"] == 0
    assert report["tokens_saved"] > 0 and report["usd_saved"] > 0
    assert report["p50_hit_ms"] < report["p50_miss_ms"]
    assert time.monotonic() - started < 90


def test_demo_text_report() -> None:
    pytest.importorskip("langchain_core")
    from tiered_cache_demo.demo import format_report

    report = {
        "requests": 10,
        "model": "gpt-4o-mini",
        "price_per_1m_tokens": {"input": 0.15, "output": 0.6},
        "simulated_latency_ms": 300.0,
        "tiers": {
            "exact": {"count": 3, "share": 0.3, "p50_ms": 0.4},
            "semantic": {"count": 2, "share": 0.2, "p50_ms": 9.0},
            "miss": {"count": 5, "share": 0.5, "p50_ms": 310.0},
        },
        "p50_hit_ms": 0.9,
        "p50_miss_ms": 310.0,
        "llm_calls": 5,
        "llm_calls_avoided": 5,
        "wrong_answers": 0,
        "tokens_saved": 1234,
        "usd_saved": 0.0004,
        "wall_seconds": 2.0,
        "seconds_without_cache": 3.0,
    }
    text = format_report(report)
    assert "exact hits" in text and "LLM calls avoided   5 of 10 (50.0%)" in text
    assert "money saved         $0.0004" in text
    assert "p50 latency         hit 0.9 ms, miss 310.0 ms" in text  # one decimal, as the table


# -- serve -----------------------------------------------------------------------------------------
def serve(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """`tiered-cache serve` in a process of its own; the URL it says it serves at."""
    proc = subprocess.Popen(
        [*CLI, *args, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert " at http://127.0.0.1:" in line, line
    return proc, line.split(" at ")[1].split()[0]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def test_serve_embedded(tmp_path: Path) -> None:
    proc, url = serve([])
    try:
        assert proc.stderr is not None
        note = [proc.stderr.readline() for _ in range(3)]  # said right after the URL
        assert note[0].startswith("note: an embedded cache lives inside the process that uses it")
        assert "start_server(cache)" in note[1] and "examples/stats_page.py" in note[2]
        assert json.loads(fetch(f"{url}/health"))["status"] == "ok"
        assert json.loads(fetch(f"{url}/stats"))["process"]["lookups"] == 0
        assert fetch(f"{url}/metrics")
        page = fetch(f"{url}/")
        assert 'id="warning"' in page and "can only show this process" in page
        assert "<code>examples/stats_page.py</code>" in page
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.redis
def test_serve_redis_page_shows_the_namespace_counters(
    redis_url: str, namespace: str, redis_args: list[str]
) -> None:
    """Two processes: this one looks up through a cache on Redis, the page served by
    `tiered-cache serve` shows its counters and its similarity histogram."""
    from ..unit.fake_embedder import MapEmbedder

    proc, url = serve(redis_args)
    try:
        emb = MapEmbedder()
        emb.pair("What is the capital of France?", "What's the capital city of France?", 0.97)
        emb.pair("How do I reset my password?", "How do I change my username?", 0.81)
        cache = TieredCache.from_url(redis_url, namespace=namespace, embedder=emb, verifier=False)
        for question in ("What is the capital of France?", "How do I reset my password?"):
            cache.store(cache.request(question, model="m"), "an answer", usage={"input_tokens": 9})
        for question in (
            "What is the capital of France?",  # exact
            "What's the capital city of France?",  # semantic, 0.97
            "How do I change my username?",  # a near miss, 0.81
        ):
            cache.lookup(cache.request(question, model="m"))
        cache.close()  # flushes this process's counters to the namespace's
        page = fetch(f"{url}/")
        assert f"Every process of namespace &#x27;{namespace}&#x27; on {redis_url}" in page
        assert '<div class="n">3</div>lookups' in page
        assert '<div class="n">1 / 1</div>exact / semantic hits' in page
        assert '<div class="n">18</div>tokens saved' in page
        assert 'class="bar-hit" data-bin="0.96" data-count="1"' in page
        assert 'class="bar-near" data-bin="0.80" data-count="1"' in page
        assert "Latest near misses (this process)" in page and 'id="warning"' not in page
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.redis
def test_serve_redis_sidecar_reports_every_process(
    redis_url: str, namespace: str, redis_args: list[str]
) -> None:
    proc, url = serve(redis_args)
    try:
        cache = TieredCache.from_url(redis_url, namespace=namespace, semantic=False)
        req = cache.request("What is the capital of France?", model="gpt-4o-mini")
        cache.lookup(req)
        cache.store(req, "Paris.", usage={"total_tokens": 30})
        cache.lookup(req)
        cache.lookup(req)
        cache.close()
        text = fetch(f"{url}/metrics")
        ns = f'namespace="{namespace}"'
        assert f'tiered_cache_shared_hits_total{{{ns},tier="exact"}} 2.0' in text
        assert f"tiered_cache_shared_misses_total{{{ns}}} 1.0" in text
        assert f"tiered_cache_shared_entries{{{ns}}} 1.0" in text
        assert f"tiered_cache_shared_tokens_saved_total{{{ns}}} 60.0" in text
        stats = json.loads(fetch(f"{url}/stats"))
        assert stats["shared"]["exact_hits"] == 2
        assert json.loads(fetch(f"{url}/health"))["backend"] == "redis"
    finally:
        proc.terminate()
        proc.wait(10)


def test_installed_console_script() -> None:
    script = shutil.which("tiered-cache")
    if script is None:
        pytest.skip("the console script is not installed (pip install -e .)")
    result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, env=clean_env(), timeout=60, check=False
    )
    assert result.returncode == 0
    for command in ("stats", "warm", "clear", "inspect", "calibrate", "demo", "serve"):
        assert command in result.stdout


# -- missing optional parts ----------------------------------------------------------------------
def test_version_and_a_bad_port_are_answered_without_a_traceback(tmp_path: Path) -> None:
    from tiered_cache import __version__

    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"tiered-cache {__version__}"
    bad = run_cli("serve", "--port", "99999", cwd=tmp_path)
    assert bad.returncode == 2 and "a port is 0-65535" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_calibrate_with_a_missing_file_is_a_clear_message(tmp_path: Path) -> None:
    result = run_cli("calibrate", "nowhere.jsonl", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere.jsonl" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_without_langchain_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from tiered_cache.tools import cli

    monkeypatch.setitem(sys.modules, "tiered_cache_demo.demo", None)
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "the demo needs LangChain" in err
    assert "pip install '.[langchain,embeddings,cli]' in a clone of tiered-cache" in err


def test_the_demo_is_a_plugin_and_its_absence_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The core finds `demo` through the `tiered_cache.cli` entry points (it never imports the
    demo or an adapter); without the plugin, `tiered-cache demo` says what to install."""
    from importlib.metadata import entry_points

    from tiered_cache.tools import cli

    (plugin,) = entry_points(group=cli.PLUGINS, name="demo")
    assert plugin.value == "tiered_cache_demo.cli:register"
    assert (
        "--requests"
        in cli.build_parser()
        ._subparsers._group_actions[0]
        .choices[  # type: ignore[union-attr]
            "demo"
        ]
        .format_help()
    )
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "the demo is not installed: pip install '.[langchain,embeddings,cli]'" in err
