"""The `tiered-cache` commands that fill or empty a cache: warm, invalidate, clear."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..cache import TieredCache
from ..errors import BackendError, InvalidRequestError, TieredCacheError
from ..request import CacheRequest
from .cli_cache import (
    EMBEDDED_NOTE,
    CommandError,
    _cache,
    _emit,
    _shared,
    _where,
)


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
        counters = cache.backends.shared
        try:
            cache.clear()
            if args.reset_stats and counters is not None:
                counters.reset()
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
