"""An app that serves its cache's stats page beside its own work (standard library only; in a
FastAPI or Flask app, start the same server at start-up, or mount `/` of it behind your proxy).

    python examples/stats_page.py              # open the printed URL; Enter or Ctrl-C stops it
    python examples/stats_page.py --seconds 5  # serve for 5 seconds, then stop (0: at once)

Without a terminal (a service, `nohup`, stdin from /dev/null) it serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import urllib.request

from tiered_cache import TieredCache
from tiered_cache.tools.server import start_server

FAQ = {
    "How do I reset my password?": "Use the 'Forgot password' link on the sign-in page.",
    "Where are your data centers?": "In Frankfurt and Virginia.",
}
ASKED = [
    "How do I reset my password?",
    "How can I reset my password?",
    "Where are your data centres located?",
    "How do I delete my account?",
]


def wait_until_stopped(seconds: float | None) -> None:
    """Enter at a terminal, Ctrl-C or SIGTERM stop the wait; so does `seconds`, when given."""
    stop = threading.Event()
    for stopping in (signal.SIGINT, signal.SIGTERM):  # set before a word is printed
        signal.signal(stopping, lambda *_: stop.set())
    if seconds is None and sys.stdin.isatty():
        print("press Enter or Ctrl-C to stop", flush=True)
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    elif seconds is None:
        print("no terminal: serving until Ctrl-C or SIGTERM", flush=True)
    stop.wait(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="serve this long, then stop")
    args = parser.parse_args()
    cache = TieredCache(namespace="support")
    server = start_server(cache, port=0)  # 127.0.0.1, a daemon thread
    cache.wait_ready(120)
    for question, answer in FAQ.items():
        cache.store(cache.request(question, model="gpt-4o-mini"), answer)
    for question in ASKED:  # what the app's users ask
        hit = cache.lookup(cache.request(question, model="gpt-4o-mini"))
        source = f"cache ({hit.tier})" if hit else "the model"
        print(f"{question!r:42} -> {source}", flush=True)
    with urllib.request.urlopen(f"{server.url}/", timeout=30) as response:
        page = response.read()
    print(f"stats page: {server.url}/ ({len(page):,} bytes)", flush=True)
    wait_until_stopped(args.seconds)
    server.shutdown()
    cache.close()
    print("stopped")


if __name__ == "__main__":
    main()
