"""The `tiered-cache` command: stats, warm, clear, inspect, calibrate, demo, serve.

Settings come from `TIERED_CACHE_*` environment variables (`CacheConfig.from_env`); `--redis-url`
and `--namespace` override them. `--json` prints machine-readable output on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .. import __version__
from ..cache import TieredCache
from ..errors import BackendError, TieredCacheError
from .cli_admin import (
    _records,
    _warm_request,
    cmd_clear,
    cmd_warm,
)
from .cli_cache import (
    EMBEDDED_NOTE,
    SERVE_EMBEDDED_NOTE,
    CommandError,
    _cache,
    _emit,
    _pct,
    _shared,
    _where,
    safe_url,
)


def _stats_text(snap: dict[str, Any]) -> list[str]:
    lookups = snap.get("lookups", 0)
    coalesced = snap.get("coalesced_hits", 0)
    hit_rate = _pct(snap["exact_hits"] + snap["semantic_hits"] + coalesced, lookups)
    lines = [
        f"  lookups        {lookups:,}   hit rate {hit_rate}",
        f"  exact hits     {snap['exact_hits']:,}",
        f"  semantic hits  {snap['semantic_hits']:,}",
        f"  coalesced      {coalesced:,}",
        f"  misses         {snap['misses']:,}",
    ]
    latency = snap.get("latency") or {}
    if latency:
        parts = [f"{k} {v['mean_ms']:.2f} ms" for k, v in sorted(latency.items())]
        lines.append("  mean latency   " + " | ".join(parts))
    similarity = snap.get("semantic_similarity")
    if similarity:
        lines.append(
            f"  similarity     mean {similarity['mean']:.3f} over {similarity['count']} "
            "semantic hits"
        )
    lines.append(f"  stores         {snap.get('stores', 0):,}   errors {snap.get('errors', 0):,}")
    lines.append(
        f"  saved          {snap.get('tokens_saved', 0):,} tokens, "
        f"${snap.get('usd_saved', 0.0):.4f}"
    )
    return lines


def _bound_text(snap: dict[str, Any]) -> list[str]:
    """max_wrong_rate: the bound read from the shared state, and what its audits cost."""
    bound = snap.get("bound")
    if not isinstance(bound, dict):
        return []
    return [
        f"  wrong answers  {bound['text']} (max_wrong_rate {bound['max_wrong_rate']:g}, "
        f"level {bound['level']})",
        f"  audits         {snap.get('audits', 0):,} here, wrong {snap.get('audits_wrong', 0):,}, "
        f"paid {snap.get('audits_paid', 0):,} ({snap.get('audit_tokens', 0):,} tokens), "
        f"free {snap.get('audits_free', 0):,}",
    ]


# -- commands --------------------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace) -> int:
    cache = _cache(args, semantic=False, shared_stats=False, metrics=False)
    try:
        shared = _shared(cache, scan=not args.no_scan)
        process = cache.stats()
    finally:
        cache.close()
    data = {
        "backend": "redis" if cache.config.redis_url else "embedded",
        "namespace": cache.config.namespace,
        "cache_version": cache.config.cache_version,
        "redis_url": safe_url(cache.config.redis_url),
        "shared": shared,
        "process": process,
    }
    lines = [f"tiered-cache stats: {_where(cache)}"]
    if shared is None:
        lines.append(EMBEDDED_NOTE)
        lines += _stats_text(process)
    else:
        lines.append("every process of this namespace (counters flushed about once a second):")
        if "entries" in shared:
            lines.append(
                f"  entries        {shared['entries']:,}   "
                f"hits served by them {shared['entry_hits']:,}"
            )
        lines += _stats_text(shared)
    lines += _bound_text(process)
    _emit(args, data, "\n".join(lines))
    return 0


def _inspect_text(report: dict[str, Any]) -> str:
    lines = [
        f"query          {report['query_text']!r}",
        f"model          {report['model']}",
        f"partition      {report['partition_key']}",
        f"exact key      {report['exact_key']}",
        f"semantic       {'allowed' if report['semantic_allowed'] else 'not allowed'}"
        f" (tier {'on' if report['semantic_tier'] else 'off'}, threshold {report['threshold']},"
        f" verifier cut-off {report['verifier_cutoff']})",
        f"exact entry    {'yes' if report['exact_entry'] else 'no'}",
    ]
    candidates = report["candidates"]
    if candidates:
        lines.append("candidates     (nearest first, in this partition)")
        for c in candidates:
            marks = [
                "SERVED" if c["served"] else "",
                "above threshold" if c["above_threshold"] else "below threshold",
            ]
            if "verifier_score" in c:
                marks.append(f"verifier {c['verifier_score']:.2f}")
            if not c["considered"]:
                marks.append("not fetched by a lookup")
            lines.append(
                f"  {c['similarity']:.4f}  {c['query']!r}  [{', '.join(m for m in marks if m)}]"
            )
    served = report["served"]
    if served is None:
        lines.append("verdict        MISS: the model would be called")
    else:
        lines.append(
            f"verdict        SERVED by the {served['tier']} tier "
            f"(similarity {served['similarity']}): {served['payload_preview']!r}"
        )
    lines.append(f"reason         {report['reason']}")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params) if args.params else None
    except ValueError as exc:
        raise CommandError(f"--params is not JSON: {exc}") from exc
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.query})
    cache = _cache(args)
    try:
        if args.load:
            _load(cache, Path(args.load), args.model)
        request = cache.request(messages, model=args.model, params=params)
        try:
            report = cache.explain(request, args.k)
        except TieredCacheError:
            raise
        except Exception as exc:
            raise BackendError(f"cannot read {_where(cache)}: {exc}") from exc
    finally:
        cache.close()
    _emit(args, report, _inspect_text(report))
    return 0


def _load(cache: TieredCache, path: Path, model: str) -> None:
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    items = []
    for number, line in _records(path):
        try:
            items.append(_warm_request(cache, json.loads(line), model))
        except (ValueError, TieredCacheError) as exc:
            print(f"{path}:{number}: {exc}", file=sys.stderr)
    cache.warm(items)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..cache import TieredCache
    from .calibrate import plot, read_pairs

    if args.pairs is None:
        args.parser.print_help()
        return 0
    if not Path(args.pairs).is_file():
        raise CommandError(f"{args.pairs}: no such file")
    try:
        pairs = read_pairs(args.pairs)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    cache = TieredCache(
        verifier=not args.no_verifier,
        embedding_model=args.embedding_model,
        embedding_cache_size=1_000_000,
    )
    try:
        result = cache.calibrate(pairs, args.target, confidence=args.confidence, apply=False)
    finally:
        cache.close()
    cutoff = result.verifier_cutoff
    verifier = f"verifier_cutoff={cutoff}" if cutoff is not None else "verifier=False"
    text = f"{result.summary()}\nuse: TieredCache(threshold={result.threshold}, {verifier})"
    if args.plot:
        drawn = plot(result, args.plot)
        text += f"\nplot: {args.plot}" if drawn else "\nplot skipped: pip install matplotlib"
    _emit(args, result.as_dict(), text)
    return 0 if result.reached else 1


def cmd_demo_missing(args: argparse.Namespace) -> int:
    raise CommandError(
        "the demo is not installed: pip install '.[langchain,embeddings,cli]' in a clone of "
        "tiered-cache"
    )


PLUGINS = "tiered_cache.cli"
"""The entry point group of commands other packages add (the demo's: `tiered_cache_demo`)."""


def _plugins(
    command: Callable[[str, str], argparse.ArgumentParser], known: Callable[[], set[str]]
) -> set[str]:
    """Let each installed plugin add its commands with `command`; the names they added."""
    before = known()
    for entry in entry_points(group=PLUGINS):
        try:
            entry.load()(command)
        except Exception as exc:  # a broken plugin costs its commands, not the CLI
            print(f"tiered-cache: plugin {entry.name!r} not loaded: {exc}", file=sys.stderr)
    return known() - before


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import make_server

    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port {args.port}: a port is 0-65535 (0: any free port)")
    # The sidecar does no lookups: its /metrics are the shared counters (and process metrics).
    cache = _cache(args, semantic=False, shared_stats=False, metrics=False)
    try:
        server = make_server(cache, args.host, args.port, sidecar=True)
    except OSError as exc:
        cache.close()
        raise CommandError(f"cannot serve on {args.host}:{args.port}: {exc}") from exc
    print(
        f"tiered-cache: serving {_where(cache)} at {server.url} (/health, /stats, /metrics)",
        file=sys.stderr,
        flush=True,
    )
    if cache.config.redis_url is None:
        print(SERVE_EMBEDDED_NOTE, file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        cache.close()
    return 0


# -- parser ----------------------------------------------------------------------------------------
def _globals(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--redis-url",
        default=default,
        help="Redis URL (else TIERED_CACHE_REDIS_URL; else embedded)",
    )
    parser.add_argument(
        "--namespace", default=default, help="namespace (else TIERED_CACHE_NAMESPACE or 'default')"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="machine-readable output",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiered-cache",
        description="Inspect, fill and serve a tiered (exact + semantic) LLM cache. Settings "
        "come from TIERED_CACHE_* environment variables (and REDIS_URL); options override them.",
        epilog="exit status: 0 ok; 1 partly failed (e.g. warm lines rejected or not stored: the "
        "valid ones are stored); 2 usage error or unreachable backend.",
    )
    parser.add_argument("--version", action="version", version=f"tiered-cache {__version__}")
    _globals(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _globals(p, suppress=True)
        return p

    p = command("stats", "hits, misses, latency, similarity and savings of a cache")
    p.add_argument("--no-scan", action="store_true", help="skip counting entries (Redis SCAN)")
    p.set_defaults(func=cmd_stats)

    p = command("warm", "bulk-import prompt/response pairs from a JSONL file (resumable)")
    p.add_argument("file", help='JSONL: {"prompt" or "messages", "response", "model"?, "params"?}')
    p.add_argument("--model", default="default", help="model of lines that name none")
    p.add_argument("--batch-size", type=int, default=256, help="questions embedded per batch")
    p.add_argument("--overwrite", action="store_true", help="rewrite entries already present")
    p.set_defaults(func=cmd_warm)

    p = command(
        "clear",
        "delete the entries of the namespace (asks first): all of them, or those selected "
        "by tag, model and/or age",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--reset-stats", action="store_true", help="also reset the shared counters")
    p.add_argument(
        "--tag", action="append", help="only entries carrying this tag (repeat: any of them)"
    )
    p.add_argument("--model", default=None, help="only entries stored for this model")
    p.add_argument(
        "--older-than", default=None, help="only entries older than this: 90s, 15m, 12h, 7d, 2w"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="count the selected entries, delete nothing"
    )
    p.set_defaults(func=cmd_clear)

    p = command("inspect", "what a query would hit: exact entry, nearest semantic candidates")
    p.add_argument("query", help="the final user turn")
    p.add_argument("--model", default="default", help="model identity of the request")
    p.add_argument("--params", default=None, help="JSON object of call parameters")
    p.add_argument("--system", default=None, help="a system prompt before the query")
    p.add_argument("-k", type=int, default=5, help="neighbours to show")
    p.add_argument("--load", default=None, help="warm this JSONL first (embedded cache)")
    p.set_defaults(func=cmd_inspect)

    p = command("calibrate", "choose the threshold (and verifier cut-off) from labelled pairs")
    p.add_argument("pairs", nargs="?", help='JSONL file of {"a", "b", "duplicate"}')
    p.add_argument("--target", type=float, default=0.95, help="target precision")
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="how sure the precision must be (one-sided Wilson bound; 0.5: point estimate)",
    )
    p.add_argument("--no-verifier", action="store_true", help="calibrate cosine alone")
    p.add_argument("--embedding-model", default=None, help="local model path or name")
    p.add_argument("--plot", default="", help="write the precision/hit-rate curve to this PNG")
    p.set_defaults(func=cmd_calibrate, parser=p)

    if "demo" not in _plugins(command, lambda: set(sub.choices)):  # tiered_cache_demo's
        p = command("demo", "a LangChain app on the embedded cache (not installed)")
        p.set_defaults(func=cmd_demo_missing)

    p = command("serve", "HTTP endpoint: /health, /stats (JSON), /metrics (Prometheus)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=9464, help="port (0: any free port)")
    p.set_defaults(func=cmd_serve)
    return parser


def _one_line(exc: BaseException) -> str:
    """What went wrong, said as a person would: `file: No such file or directory`, not
    `[Errno 2] ...`."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    # The model is loaded from the package: its loading bar would only clutter the output.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args))
    except BrokenPipeError:  # `| head` closed stdout: nothing more to say, and nowhere to say it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CommandError, TieredCacheError, OSError, UnicodeError) as exc:
        # Usage, files, servers: one line, never a traceback.
        print(f"tiered-cache: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
