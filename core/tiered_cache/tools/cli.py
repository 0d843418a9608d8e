"""The `tiered-cache` command: stats, warm, clear, inspect, calibrate, demo, serve.

Settings come from `TIERED_CACHE_*` environment variables (`CacheConfig.from_env`); `--redis-url`
and `--namespace` override them. `--json` prints machine-readable output on stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..backends.redis.shared_stats import read_shared_stats, reset_shared_stats
from ..cache import TieredCache
from ..config import CacheConfig
from ..errors import BackendError, InvalidRequestError, TieredCacheError
from ..request import CacheRequest

EMBEDDED_NOTE = (
    "note: an embedded cache lives inside the process that uses it, so this command sees an\n"
    "empty one; point it at a shared cache with --redis-url or TIERED_CACHE_REDIS_URL"
)
SERVE_EMBEDDED_NOTE = (
    "note: an embedded cache lives inside the process that uses it, so this page can only show\n"
    "this process, which does no lookups. Serve the page from your app with start_server(cache)\n"
    "(see examples/stats_page.py), or share the cache on Redis and pass --redis-url"
)


class CommandError(Exception):
    """A usage problem reported as `tiered-cache: error: ...` with exit status 2."""


# -- helpers ---------------------------------------------------------------------------------------
def _config(args: argparse.Namespace, **overrides: Any) -> CacheConfig:
    given: dict[str, Any] = {}
    if getattr(args, "redis_url", None):
        given["redis_url"] = args.redis_url
    if getattr(args, "namespace", None):
        given["namespace"] = args.namespace
    return CacheConfig.from_env(**given, **overrides)


def _cache(args: argparse.Namespace, **overrides: Any) -> TieredCache:
    config = _config(args, **overrides)
    _reachable(config)
    return TieredCache(config)


def _reachable(config: CacheConfig) -> None:
    """Fail in one line, before a cache is built (whose warnings would say it in many), when the
    configured Redis does not answer."""
    url = config.redis_url
    if url is None:
        return
    try:
        import redis
    except ImportError:
        raise CommandError(
            "--redis-url needs the redis extra: pip install '.[redis]' in a clone of tiered-cache"
        ) from None
    try:
        probe = redis.Redis.from_url(
            url,
            socket_timeout=max(config.redis_timeout, 1.0),
            socket_connect_timeout=config.redis_connect_timeout,
        )
    except ValueError as exc:
        raise CommandError(f"--redis-url {safe_url(url)}: {exc}") from None
    try:
        probe.ping()
    except redis.RedisError as exc:
        raise BackendError(
            f"cannot reach Redis at {safe_url(url)}: {exc} (is it running? e.g. "
            "docker run -p 6379:6379 redis/redis-stack-server; or fix --redis-url / "
            "TIERED_CACHE_REDIS_URL)"
        ) from None
    finally:
        probe.close()


def safe_url(url: str | None) -> str:
    """A Redis URL without its password."""
    return re.sub(r"//[^@/]*@", "//***@", url) if url else "embedded"


def _where(cache: TieredCache) -> str:
    cfg = cache.config
    return f"namespace {cfg.namespace!r} (v{cfg.cache_version}) on {safe_url(cfg.redis_url)}"


def _backend(cache: TieredCache) -> tuple[Any, str] | None:
    """The Redis client and key base of a Redis-backed cache; None when embedded."""
    conn = cache.redis
    return None if conn is None else (conn.node(), conn.keys.base)


def _shared(cache: TieredCache, scan: bool = True) -> dict[str, Any] | None:
    backend = _backend(cache)
    if backend is None:
        return None
    try:
        return read_shared_stats(*backend, scan=scan)
    except Exception as exc:
        raise BackendError(f"cannot read {_where(cache)}: {exc}") from exc


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


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
    _emit(args, data, "\n".join(lines))
    return 0


def _records(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield number, line


def _warm_request(cache: TieredCache, record: Any, default_model: str) -> tuple[CacheRequest, str]:
    if not isinstance(record, dict):
        raise ValueError("a line must be a JSON object")
    response = record.get("response")
    if not isinstance(response, str):
        raise ValueError('"response" must be a string')
    messages = record.get("messages", record.get("prompt"))
    if not isinstance(messages, (str, list)) or not messages:
        raise ValueError('give "prompt" (a string) or "messages" (a list of {role, content})')
    model = record.get("model", default_model)
    params = record.get("params")
    if not isinstance(model, str) or (params is not None and not isinstance(params, dict)):
        raise ValueError('"model" must be a string and "params" an object')
    return cache.request(messages, model=model, params=params), response


def _present(cache: TieredCache, key: str) -> bool:
    try:
        return cache.peek(key) is not None
    except Exception as exc:
        raise BackendError(f"cannot read {_where(cache)}: {exc}") from exc


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or importlib.util.find_spec("tqdm") is None:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="line", desc="warming", file=sys.stderr, disable=None)


def cmd_warm(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    total = sum(1 for _ in _records(path))
    cache = _cache(args)
    counts = {"lines": total, "stored": 0, "skipped": 0, "invalid": 0, "failed": 0}
    errors: list[str] = []
    bar = _progress(total, not args.json)
    try:
        batch: list[tuple[CacheRequest, str]] = []
        seen: set[str] = set()

        def flush() -> None:
            stored = cache.warm(batch, batch_size=args.batch_size) if batch else 0
            counts["stored"] += stored
            counts["failed"] += len(batch) - stored
            batch.clear()

        for number, line in _records(path):
            try:
                request, response = _warm_request(cache, json.loads(line), args.model)
            except (ValueError, TieredCacheError) as exc:
                counts["invalid"] += 1
                errors.append(f"{path}:{number}: {exc}")
            else:
                # Resumable: an entry already stored (an earlier, interrupted run) is skipped.
                key = request.exact_key
                if key in seen or (not args.overwrite and _present(cache, key)):
                    counts["skipped"] += 1
                else:
                    seen.add(key)
                    batch.append((request, response))
                    if len(batch) >= args.batch_size:
                        flush()
            if bar is not None:
                bar.update(1)
        flush()
    finally:
        if bar is not None:
            bar.close()
        cache.close()
    for error in errors[:10]:
        print(error, file=sys.stderr)
    if len(errors) > 10:
        print(f"... and {len(errors) - 10} more invalid lines", file=sys.stderr)
    text = (
        f"warmed {_where(cache)} from {path}: {counts['stored']} stored, "
        f"{counts['skipped']} already present, {counts['invalid']} invalid, "
        f"{counts['failed']} failed"
    )
    if cache.config.redis_url is None:
        text += "\n" + EMBEDDED_NOTE
    _emit(args, counts, text)
    return 1 if counts["failed"] or counts["invalid"] else 0  # the valid lines are stored


def _confirm(question: str) -> bool:
    print(question, end=" ", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _go_ahead(args: argparse.Namespace, refusal: str, question: str) -> bool:
    """Whether to delete: `--yes`, or a yes at the terminal; without a terminal, refused."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise CommandError(f"refusing to {refusal} without --yes (stdin is not a terminal)")
    if _confirm(f"{question} [y/N]"):
        return True
    print("aborted: nothing deleted", file=sys.stderr)
    return False


def _selected(args: argparse.Namespace) -> dict[str, Any]:
    """The `invalidate` keywords of `clear --tag/--model/--older-than` (empty: everything)."""
    chosen = {"tags": args.tag or None, "model": args.model, "older_than": args.older_than}
    return {k: v for k, v in chosen.items() if v is not None}


def cmd_invalidate(args: argparse.Namespace, selection: dict[str, Any]) -> int:
    """`clear` with a selection: count first (`--dry-run` stops there), then delete."""
    cache = _cache(args, semantic=False, shared_stats=False, metrics=False)
    try:
        try:
            matching = cache.invalidate(**selection, dry_run=True)
        except InvalidRequestError as exc:
            raise CommandError(str(exc)) from exc
        described = ", ".join(f"{k}={v}" for k, v in selection.items())
        if args.dry_run or matching == 0:
            data = {"dry_run": bool(args.dry_run), "matching": matching, "deleted": 0}
            _emit(args, data, f"{matching} entries of {_where(cache)} match {described}")
            return 0
        question = f"Delete {matching} entries of {_where(cache)} ({described})?"
        if not _go_ahead(args, f"delete {matching} entries", question):
            return 1
        deleted = cache.invalidate(**selection)
    finally:
        cache.close()
    data = {"dry_run": False, "matching": matching, "deleted": deleted}
    _emit(args, data, f"deleted {deleted} entries of {_where(cache)} ({described})")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    selection = _selected(args)
    if selection:
        return cmd_invalidate(args, selection)
    if args.dry_run:
        raise CommandError("--dry-run counts what --tag, --model or --older-than select")
    cache = _cache(args, semantic=False, shared_stats=False, metrics=False)
    try:
        question = f"Delete every entry of {_where(cache)}?"
        if not _go_ahead(args, f"clear {_where(cache)}", question):
            return 1
        shared = _shared(cache)
        backend = _backend(cache)
        try:
            cache.clear()
            if args.reset_stats and backend is not None:
                reset_shared_stats(*backend)
        except Exception as exc:
            raise BackendError(f"cannot clear {_where(cache)}: {exc}") from exc
    finally:
        cache.close()
    deleted = shared.get("entries") if shared is not None else None
    data = {"cleared": True, "entries_deleted": deleted, "stats_reset": bool(args.reset_stats)}
    text = f"cleared {_where(cache)}"
    if deleted is not None:
        text += f": {deleted} entries deleted"
    if shared is None:
        text += "\n" + EMBEDDED_NOTE
    _emit(args, data, text)
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


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from langchain_tiered_cache._demo import format_report, run_demo
    except ImportError as exc:
        raise CommandError(
            f"the demo needs LangChain and the embedding model ({exc}): "
            "pip install '.[langchain,embeddings,cli]' in a clone of tiered-cache"
        ) from exc
    report = run_demo(
        requests=args.requests,
        latency_ms=args.latency_ms,
        model=args.model,
        seed=args.seed,
        progress=None if args.json else sys.stderr,
    )
    _emit(args, report, format_report(report))
    return 0


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

    p = command("demo", "a LangChain app on the embedded cache: hit rates, latency, savings")
    p.add_argument("--requests", type=int, default=200, help="requests to send")
    p.add_argument("--latency-ms", type=float, default=300.0, help="simulated model latency")
    p.add_argument("--model", default="gpt-4o-mini", help="model name (for its price)")
    p.add_argument("--seed", type=int, default=7, help="workload seed")
    p.set_defaults(func=cmd_demo)

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
