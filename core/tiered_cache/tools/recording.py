"""Record/replay of LLM responses in a JSONL file, for deterministic tests of LLM applications.

`RecordingCache` is an exact-only `TieredCache` (semantic matching would make tests depend on a
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
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from ..cache import CacheHit, Served, TieredCache
from ..engine.plans import Computed, served
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


class RecordingCache(TieredCache):
    """An exact-only cache whose entries are the lines of a JSONL file (`save()` writes it)."""

    def __init__(
        self, path: str | os.PathLike[str], mode: Mode, *, display: str | None = None
    ) -> None:
        if mode not in ("record", "replay"):
            raise ConfigurationError(f"mode={mode!r}: record or replay")
        super().__init__(
            namespace=NAMESPACE,
            semantic=False,
            metrics=False,
            shared_stats=False,
            max_entries=100_000_000,
            max_bytes=1 << 50,
        )
        self.path = Path(path)
        self.mode: Mode = mode
        self.display = display or str(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.recorded = 0
        self.misses: list[str] = []
        self._lock = threading.Lock()
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
                self.backends.entries.set(key, entry.to_json(), None)
                self.records[key] = record

    # -- the cache API, with record/replay semantics ---------------------------------------------
    def _missed(self, request: CacheRequest) -> LLMCacheMiss:
        text = request.query_text or f"<request {request.exact_key[:16]}>"
        model = request.partition.get("model")
        with self._lock:
            self.misses.append(text)
        return LLMCacheMiss(
            f"not in {self.display}: {text[:PROMPT_CHARS]}"
            + (f" (model {model})" if model else "")
            + "; record it with --llm-cache=record"
        )

    def lookup(self, request: CacheRequest) -> CacheHit | None:
        hit = super().lookup(request)
        if hit is None and self.mode == "replay":
            raise self._missed(request)
        return hit

    async def alookup(self, request: CacheRequest) -> CacheHit | None:
        hit = await super().alookup(request)
        if hit is None and self.mode == "replay":
            raise self._missed(request)
        return hit

    def _remember(
        self, request: CacheRequest, payload: str, usage: Mapping[str, Any] | None
    ) -> None:
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

    def store(
        self,
        request: CacheRequest,
        payload: str,
        *,
        usage: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> bool:
        if self.mode == "replay" or not super().store(request, payload, usage=usage):
            return False
        self._remember(request, payload, usage)
        return True

    async def astore(
        self,
        request: CacheRequest,
        payload: str,
        *,
        usage: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> bool:
        if self.mode == "replay" or not await super().astore(request, payload, usage=usage):
            return False
        self._remember(request, payload, usage)
        return True

    def get_or_compute(
        self, request: CacheRequest, compute: Callable[[], Computed], *, ttl: float | None = None
    ) -> Served:
        """The recorded answer, or (record mode) `compute()` recorded; tests need no leases."""
        hit = self.lookup(request)
        if hit is not None:
            return Served(hit.payload, hit)
        answer = served(compute())
        self.store(request, answer.payload, usage=answer.usage)
        return answer

    async def aget_or_compute(
        self,
        request: CacheRequest,
        compute: Callable[[], Awaitable[Computed]],
        *,
        ttl: float | None = None,
    ) -> Served:
        hit = await self.alookup(request)
        if hit is not None:
            return Served(hit.payload, hit)
        answer = served(await compute())
        await self.astore(request, answer.payload, usage=answer.usage)
        return answer

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


__all__ = ["LLMCacheMiss", "RecordingCache"]
