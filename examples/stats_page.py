"""An app that serves its cache's stats page beside its own work (standard library only; in a
FastAPI or Flask app, start the same server at start-up, or mount `/` of it behind your proxy).

    python examples/stats_page.py            # then open the printed URL; Ctrl-C stops it
    python examples/stats_page.py --once     # answer a few requests, print the page's size, exit
"""

from __future__ import annotations

import contextlib
import sys
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


def main() -> None:
    cache = TieredCache(namespace="support")
    server = start_server(cache, port=0)  # 127.0.0.1, a daemon thread
    cache.wait_ready(120)
    for question, answer in FAQ.items():
        cache.store(cache.request(question, model="gpt-4o-mini"), answer)
    for question in ASKED:  # what the app's users ask
        hit = cache.lookup(cache.request(question, model="gpt-4o-mini"))
        print(f"{question!r:42} -> {'cache (' + hit.tier + ')' if hit else 'the model'}")
    page = urllib.request.urlopen(f"{server.url}/").read()
    print(f"stats page: {server.url}/ ({len(page):,} bytes)")
    if "--once" not in sys.argv:
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input("press Enter to stop\n")
    server.shutdown()
    cache.close()


if __name__ == "__main__":
    main()
