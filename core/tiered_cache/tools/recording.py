"""Record/replay of LLM responses in a JSONL file, for deterministic tests of LLM applications.

`Recording` gives an exact-only `TieredCache` (semantic matching would make tests depend on a
threshold) whose entries live in a diff-friendly file: one JSON object per line with sorted keys,
lines ordered by key. In `record` mode recorded requests are served and new responses are added;
in `replay` mode nothing is written and a request that is not in the file raises `LLMCacheMiss`
before the model could be called. The pytest plugin (`tiered_cache.tools.pytest_plugin`) drives it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ..cache import TieredCache
from ..entry import CacheEntry
from ..errors import ConfigurationError
from ..request import CacheRequest

Mode = Literal["record", "replay"]
PROMPT_CHARS = 200
NAMESPACE = "llm-cache"


class LLMCacheMiss(BaseException):
    """A replayed test asked for a response that was never recorded.

    A BaseException, like pytest's own `Failed`: cache adapters turn every `Exception` into a
    miss (and then call the model), which is exactly what replay must never do.
    """


class Recording:
    """Record/replay of a JSONL file, as the hooks of an exact-only `TieredCache` (`.cache`):
    the cache is a plain one, over an embedded store loaded from the file; the recording sees
    its misses (replay: `LLMCacheMiss`) and its stores (record: kept for `save()`)."""

    def __init__(
        self, path: str | os.PathLike[str], mode: Mode, *, display: str | None = None
    ) -> None:
        if mode not in ("record", "replay"):
            raise ConfigurationError(f"mode={mode!r}: record or replay")
        self.path = Path(path)
        self.mode: Mode = mode
        self.display = display or str(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.recorded = 0
        self.misses: list[str] = []
        self._lock = threading.Lock()
        self.cache = TieredCache(
            namespace=NAMESPACE,
            semantic=False,
            metrics=False,
            shared_stats=False,
            max_entries=100_000_000,
            max_bytes=1 << 50,
            hooks=self,
        )
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key, payload = record["key"], record["payload"]
                    if not isinstance(key, str) or not isinstance(payload, str):
                        raise TypeError("key and payload must be strings")
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigurationError(
                        f"{self.display}:{number}: not a recorded LLM response ({exc})"
                    ) from exc
                usage = record.get("usage")
                entry = CacheEntry(
                    payload,
                    record.get("query"),
                    usage if isinstance(usage, Mapping) else None,
                    created_at=0.0,
                )
                self.cache.backends.entries.set(key, entry.to_json(), None)
                self.records[key] = record

    # -- the cache's hooks ------------------------------------------------------------------------
    def missed(self, request: CacheRequest) -> None:
        """A replay never reaches a model: a request that was not recorded stops the test."""
        if self.mode != "replay":
            return
        text = request.query_text or f"<request {request.exact_key[:16]}>"
        model = request.partition.get("model")
        with self._lock:
            self.misses.append(text)
        raise LLMCacheMiss(
            f"not in {self.display}: {text[:PROMPT_CHARS]}"
            + (f" (model {model})" if model else "")
            + "; record it with --llm-cache=record"
        )

    def storing(self, request: CacheRequest) -> bool:
        return self.mode == "record"

    def stored(self, request: CacheRequest, payload: str, usage: Any) -> None:
        record: dict[str, Any] = {
            "key": request.exact_key,
            "model": request.partition.get("model"),
            "query": request.query_text,
            "payload": payload,
        }
        if usage:
            record["usage"] = dict(usage)
        with self._lock:
            self.records[request.exact_key] = record
            self.recorded += 1

    def save(self) -> bool:
        """Write the file (sorted keys, ordered by key), atomically; False if nothing changed."""
        if self.mode != "record" or not self.recorded:
            return False
        with self._lock:
            lines = [
                json.dumps(self.records[key], sort_keys=True, ensure_ascii=False) + "\n"
                for key in sorted(self.records)
            ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".llm_cache-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                out.writelines(lines)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True


__all__ = ["LLMCacheMiss", "Recording"]
