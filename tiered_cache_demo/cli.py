"""The `demo` command of `tiered-cache`, registered through the `tiered_cache.cli` entry points.

Importing this module imports nothing of LangChain: the command's handler does, when it runs,
so every other command works without the demo's dependencies.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tiered_cache.tools.cli_cache import CommandError, emit

AddCommand = Callable[[str, str], argparse.ArgumentParser]


def register(command: AddCommand) -> None:
    """Add `demo` with `command(name, help)` (the CLI's sub-command factory)."""
    p = command("demo", "a LangChain app on the embedded cache: hit rates, latency, savings")
    p.add_argument("--requests", type=int, default=200, help="requests to send")
    p.add_argument("--latency-ms", type=float, default=300.0, help="simulated model latency")
    p.add_argument("--model", default="gpt-4o-mini", help="model name (for its price)")
    p.add_argument("--seed", type=int, default=7, help="workload seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from .demo import format_report, run_demo
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
    emit(args, report, format_report(report))
    return 0
