"""A small HTTP endpoint for a sidecar or an app: `/` (a page), `/health`, `/stats` (JSON),
`/metrics`.

Standard library only (`http.server`). `/metrics` is this process's Prometheus registry when
prometheus-client is installed (else the cache's own counters in Prometheus text), followed by
the counters every process shares through Redis (`tiered_cache_shared_*`) for a Redis cache:
a sidecar that does no lookups of its own still reports the whole fleet.

    tiered-cache serve --port 9464                      # a sidecar, on 127.0.0.1
    server = start_server(cache, port=9464)             # inside an app, in a daemon thread
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..observability.metrics import render_process_metrics, render_snapshot
from .page import render as render_page

if TYPE_CHECKING:
    from ..cache import TieredCache

logger = logging.getLogger(__name__)
SCAN_EVERY = 15.0
"""Seconds between SCANs counting the entries of a Redis namespace (the counters are fresh)."""
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
EMBEDDED_SIDECAR_WARNING = (
    "This server has an embedded cache of its own: an embedded cache lives inside the process "
    "that uses it, so this page can only show this process, which does no lookups. Serve the "
    "page from your app instead (<code>start_server(cache)</code> beside your work, as "
    "<code>examples/stats_page.py</code> does), or share the cache on Redis and point "
    "<code>tiered-cache serve --redis-url</code> at it."
)
"""The page's warning when `tiered-cache serve` runs on the embedded default (HTML)."""
HISTORY = 120
"""Samples of the counters the page's hit-rate chart keeps (one per page load)."""


class StatsServer(ThreadingHTTPServer):
    """Serves the stats of one cache; `url` is where it listens."""

    daemon_threads = True

    def __init__(
        self, cache: TieredCache, host: str = "127.0.0.1", port: int = 0, sidecar: bool = False
    ) -> None:
        self.cache = cache
        self.sidecar = sidecar  # `tiered-cache serve`: a process of its own, doing no lookups
        self._scan_lock = threading.Lock()
        self._scanned: tuple[float, dict[str, Any]] | None = None
        self.history: deque[dict[str, int]] = deque(maxlen=HISTORY)
        if cache.backends.shared is None:  # a baseline; on Redis the first page load takes it
            self.sample()
        super().__init__((host, port), _Handler)

    def sample(self, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        """The counters the page shows (this process's unless given), remembered for the page's
        hit rate over time."""
        stats = self.cache.stats() if stats is None else stats
        self.history.append(
            {
                "exact": stats["exact_hits"],
                "semantic": stats["semantic_hits"],
                "coalesced": stats.get("coalesced_hits", 0),
                "miss": stats["misses"],
            }
        )
        return stats

    def page(self) -> bytes:
        """The page: on Redis, the namespace's counters (every process); embedded, this
        process's own, with a warning when that is a sidecar's empty cache."""
        process = self.cache.stats()
        namespace = self.cache.config.namespace
        title = f"tiered-cache: {namespace}"
        counters, shared = self.cache.backends.shared, self.shared()
        if counters is not None and shared is not None:
            stats = {**process, **{k: v for k, v in shared.items() if k != "similarities"}}
            sims = {
                **shared["similarities"],
                "latest_near_misses": process["similarities"]["latest_near_misses"],
                "latest_note": "this process",
            }
            scope = (
                f"Every process of namespace {namespace!r} on {counters.where} (each adds its "
                "counters about once a second)."
            )
            warning = ""
        else:
            stats, sims = process, process["similarities"]
            scope = "The embedded cache of this process."
            warning = EMBEDDED_SIDECAR_WARNING if self.sidecar else ""
        self.sample(stats)
        return render_page(stats, sims, list(self.history), title, scope, warning).encode()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def shared(self) -> dict[str, Any] | None:
        """The counters of every process (Redis only); entry counts refreshed every SCAN_EVERY s."""
        counters = self.cache.backends.shared
        if counters is None:
            return None
        now = time.monotonic()
        with self._scan_lock:
            scanned = self._scanned
            rescan = scanned is None or now - scanned[0] >= SCAN_EVERY
        snap = counters.read(scan=rescan)
        if rescan:
            with self._scan_lock:
                self._scanned = (now, {k: snap[k] for k in ("entries", "entry_hits")})
        elif scanned is not None:
            snap.update(scanned[1])
        return snap

    def health(self) -> tuple[bool, dict[str, Any]]:
        counters = self.cache.backends.shared
        info: dict[str, Any] = {
            "namespace": self.cache.config.namespace,
            "backend": self.cache.backends.kind,
        }
        if counters is None:
            return True, {**info, "status": "ok"}
        try:
            counters.ping()
        except Exception as exc:
            return False, {**info, "status": "unavailable", "error": str(exc)}
        return True, {**info, "status": "ok"}

    def metrics_text(self) -> bytes:
        namespace = self.cache.config.namespace
        text = render_process_metrics()
        if text is None:
            text = render_snapshot(self.cache.stats(), namespace, "tiered_cache").encode()
        shared = self.shared()
        if shared is not None:
            text += render_snapshot(shared, namespace, "tiered_cache_shared").encode()
        return text


class _Handler(BaseHTTPRequestHandler):
    server: StatsServer
    server_version = "tiered-cache"

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, sort_keys=True, default=str).encode()
        self._send(status, body, "application/json")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            if path == "/health":
                ok, info = self.server.health()
                self._json(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, info)
            elif path == "/stats":
                cache = self.server.cache
                self._json(
                    HTTPStatus.OK, {"process": cache.stats(), "shared": self.server.shared()}
                )
            elif path == "/metrics":
                self._send(HTTPStatus.OK, self.server.metrics_text(), PROMETHEUS_TEXT)
            elif path == "/":
                self._send(HTTPStatus.OK, self.server.page(), "text/html; charset=utf-8")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "try /, /health, /stats or /metrics"})
        except Exception as exc:  # e.g. Redis down: report it, keep serving
            logger.warning("tiered-cache: %s failed: %s", path, exc)
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"{type(exc).__name__}: {exc}"})

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("tiered-cache http: " + format, *args)


def make_server(
    cache: TieredCache, host: str = "127.0.0.1", port: int = 0, sidecar: bool = False
) -> StatsServer:
    """A server bound to (host, port) and not yet serving (`serve_forever()` it); `sidecar`:
    it runs in a process of its own (`tiered-cache serve`), not in the app that does lookups."""
    return StatsServer(cache, host, port, sidecar)


def start_server(cache: TieredCache, host: str = "127.0.0.1", port: int = 0) -> StatsServer:
    """Serve `cache`'s stats from a daemon thread; `server.shutdown()` stops it."""
    server = make_server(cache, host, port)
    thread = threading.Thread(target=server.serve_forever, name="tiered-cache-http", daemon=True)
    thread.start()
    return server


__all__ = ["StatsServer", "make_server", "start_server"]
