"""Every subcommand's error paths: a down Redis, a plain Redis, bad arguments, bad files, and
stdout closed early. Never a traceback; exit 0, 1 or 2 as `--help` says."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..redis_server import RedisStackServer, free_port
from .conftest import CLI, clean_env, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plain_redis() -> Iterator[str]:
    server = RedisStackServer(modules=False).start()
    yield server.url
    server.stop()


def files(tmp: Path) -> dict[str, Path]:
    good = tmp / "faq.jsonl"
    good.write_text('{"prompt": "What is 2+2?", "response": "4"}\n')
    binary = tmp / "binary.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    pairs = tmp / "pairs.jsonl"
    pairs.write_text("not json\n")
    return {"good": good, "binary": binary, "pairs": pairs, "dir": tmp}


def commands(f: dict[str, Path]) -> list[list[str]]:
    return [
        ["stats"],
        ["warm", str(f["good"])],
        ["clear", "--yes"],
        ["inspect", "What is 2+2?"],
    ]


def no_traceback(result: subprocess.CompletedProcess[str], allowed: tuple[int, ...]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in allowed, (result.returncode, result.stderr[-1000:])


def test_a_down_redis_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = clean_env(TIERED_CACHE_SEMANTIC="false")
    down = f"redis://127.0.0.1:{free_port()}"
    for command in commands(files(tmp_path)):
        result = run_cli("--redis-url", down, *command, cwd=tmp_path, env=env, input="")
        no_traceback(result, (1, 2))  # warm: its lines were not stored (1); the others: 2


def test_a_plain_redis_serves_the_exact_tier(tmp_path: Path, plain_redis: str) -> None:
    env = clean_env(TIERED_CACHE_SEMANTIC="false")
    for command in commands(files(tmp_path)):
        result = run_cli("--redis-url", plain_redis, *command, cwd=tmp_path, env=env, input="")
        no_traceback(result, (0,))


def test_bad_arguments_and_bad_files(tmp_path: Path) -> None:
    f = files(tmp_path)
    env = clean_env(TIERED_CACHE_SEMANTIC="false")
    cases = [
        ["stats", "--nope"],
        ["warm"],
        ["warm", str(f["dir"])],
        ["warm", str(tmp_path / "missing.jsonl")],
        ["warm", str(f["binary"])],
        ["inspect"],
        ["inspect", "q", "--params", "{nope"],
        ["clear"],  # no terminal to confirm: refused
        ["calibrate", str(f["pairs"])],
        ["calibrate", str(tmp_path / "missing.jsonl")],
        ["demo", "--requests", "lots"],
        ["serve", "--port", "70000"],
        ["--redis-url", "http://not-redis", "stats"],
        ["no-such-command"],
    ]
    for case in cases:
        result = run_cli(*case, cwd=tmp_path, env=env, input="")
        no_traceback(result, (1, 2))
        assert result.stderr.strip(), case  # it says why


def test_stdout_closed_early_is_harmless(tmp_path: Path) -> None:
    env = clean_env(TIERED_CACHE_SEMANTIC="false")
    cli = subprocess.Popen(
        [*CLI, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path
    )
    assert cli.stdout is not None and cli.stderr is not None
    cli.stdout.read(10)
    cli.stdout.close()  # `| head -c 10`
    err = cli.stderr.read().decode()
    cli.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert sys.executable


def test_a_down_redis_is_said_in_exactly_one_line(tmp_path: Path) -> None:
    """With the default settings (semantic tier on), every command that reads a Redis says in one
    line that it cannot reach it, naming where it looked, and builds no cache (no warnings)."""
    port = free_port()
    down = f"redis://127.0.0.1:{port}"
    for command in [*commands(files(tmp_path)), ["clear", "--tag", "x", "--yes"], ["serve"]]:
        result = run_cli("--redis-url", down, *command, cwd=tmp_path, env=clean_env(), input="")
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.splitlines() == [result.stderr.strip()], (command, result.stderr)
        assert result.stderr.startswith(f"tiered-cache: error: cannot reach Redis at {down}: ")
        assert "redis/redis-stack-server" in result.stderr


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    for command in (["calibrate", "nope.jsonl"], ["warm", "nope.jsonl"]):
        result = run_cli(*command, cwd=tmp_path, env=clean_env())
        assert result.returncode == 2
        assert result.stderr == "tiered-cache: error: nope.jsonl: no such file\n", result.stderr
