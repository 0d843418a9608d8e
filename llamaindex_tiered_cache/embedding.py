"""CachedEmbedding: exact caching of document and query embeddings for `Settings.embed_model`.

Vectors are stored as JSON lists of floats in the core's exact tier under `emb:<sha256>` keys, the
hash covering the wrapped model's identity (class, model name, output-affecting settings), the
kind of embedding (query or text) and the text, so two models never share an entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny
from tiered_cache import TieredCache
from tiered_cache.keys import digest
from tiered_cache.observability.incidents import Incidents

from .guard import failure_log
from .identity import model_fields_params, model_identity

KEY_PREFIX = "emb:"
_MAX_BATCH = 2048  # BaseEmbedding's upper bound; the wrapped model batches on its own


def _vector(raw: bytes) -> list[float]:
    data = orjson.loads(raw)
    if not isinstance(data, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in data
    ):
        raise ValueError("cached embedding is not a list of numbers")
    return [float(x) for x in data]


class CachedEmbedding(BaseEmbedding):
    """Wraps any LlamaIndex embedding model; repeated texts are never embedded twice.

    `CachedEmbedding(inner)` keeps vectors in process; pass `cache=` (a core `TieredCache`) or
    settings (`redis_url=`, `namespace=`, `ttl=`, ...) to share them. Batches look every text up and
    embed only the misses, in one call to the wrapped model. A failing cache is skipped.
    """

    embed_model: SerializeAsAny[BaseEmbedding] = Field(
        description="The wrapped embedding model, called on cache misses."
    )
    _cache: TieredCache = PrivateAttr()
    _failures: Incidents = PrivateAttr()

    def __init__(
        self, embed_model: BaseEmbedding, cache: TieredCache | None = None, **settings: Any
    ) -> None:
        fields = {k: settings.pop(k) for k in list(settings) if k in BaseEmbedding.model_fields}
        fields.setdefault("model_name", embed_model.model_name)
        fields.setdefault("embed_batch_size", _MAX_BATCH)
        fields.setdefault("num_workers", embed_model.num_workers)
        core = TieredCache.ensure(cache, settings, semantic=False)
        fields["embed_model"] = embed_model
        super().__init__(**fields)
        self._cache = core
        self._failures = failure_log(type(self).__name__)

    @classmethod
    def class_name(cls) -> str:
        return "CachedEmbedding"

    @property
    def cache(self) -> TieredCache:
        """The core cache holding the vectors."""
        return self._cache

    # -- keys and values ----------------------------------------------------------------------
    def _keys(self, kind: str, texts: Sequence[str]) -> list[str] | None:
        try:
            model = {
                "model": model_identity(self.embed_model),
                "params": model_fields_params(self.embed_model, skip=("model_name",)),
            }
            return [KEY_PREFIX + digest({"model": model, "kind": kind, "text": t}) for t in texts]
        except Exception as exc:
            self._failures.failed(exc, "building cache keys")
            return None

    def _decode(self, raw: bytes | None) -> list[float] | None:
        if raw is None:
            return None
        try:
            return _vector(raw)
        except Exception as exc:  # corrupt or foreign: embed again (and overwrite)
            self._failures.failed(exc, "reading a cached embedding")
            return None

    @staticmethod
    def _misses(texts: Sequence[str], found: Sequence[list[float] | None]) -> list[str]:
        return list(dict.fromkeys(t for t, v in zip(texts, found, strict=True) if v is None))

    @staticmethod
    def _assemble(
        texts: Sequence[str],
        found: Sequence[list[float] | None],
        fresh: dict[str, list[float]],
    ) -> list[Embedding]:
        return [v if v is not None else fresh[t] for t, v in zip(texts, found, strict=True)]

    def _entries(
        self, texts: Sequence[str], keys: Sequence[str], fresh: dict[str, list[float]]
    ) -> dict[str, bytes]:
        key_of = dict(zip(texts, keys, strict=True))
        return {key_of[t]: orjson.dumps(v) for t, v in fresh.items()}

    # -- sync I/O -------------------------------------------------------------------------------
    def _lookup(self, keys: Sequence[str]) -> list[list[float] | None]:
        return [self._decode(self._cache.aux.get(k)) for k in keys]

    def _save(self, entries: dict[str, bytes]) -> None:
        for key, value in entries.items():
            self._cache.aux.set(key, value, self._cache.config.ttl)

    def _compute(self, kind: str, texts: list[str]) -> dict[str, list[float]]:
        if kind == "query":
            vectors = [self.embed_model.get_query_embedding(t) for t in texts]
        else:
            vectors = self.embed_model.get_text_embedding_batch(texts)
        return {t: [float(x) for x in v] for t, v in zip(texts, vectors, strict=True)}

    def _embed(self, kind: str, texts: list[str]) -> list[Embedding]:
        keys = self._keys(kind, texts)
        if keys is None:
            fresh = self._compute(kind, list(dict.fromkeys(texts)))
            return [fresh[t] for t in texts]
        found = self._lookup(keys)
        missing = self._misses(texts, found)
        fresh = self._compute(kind, missing) if missing else {}
        if fresh:
            self._save(self._entries(texts, keys, fresh))
        return self._assemble(texts, found, fresh)

    # -- async I/O ------------------------------------------------------------------------------
    async def _alookup(self, keys: Sequence[str]) -> list[list[float] | None]:
        raws = await asyncio.gather(*(self._cache.aux.aget(k) for k in keys))
        return [self._decode(r) for r in raws]

    async def _asave(self, entries: dict[str, bytes]) -> None:
        ttl = self._cache.config.ttl
        await asyncio.gather(*(self._cache.aux.aset(k, v, ttl) for k, v in entries.items()))

    async def _acompute(self, kind: str, texts: list[str]) -> dict[str, list[float]]:
        if kind == "query":
            vectors = [await self.embed_model.aget_query_embedding(t) for t in texts]
        else:
            vectors = await self.embed_model.aget_text_embedding_batch(texts)
        return {t: [float(x) for x in v] for t, v in zip(texts, vectors, strict=True)}

    async def _aembed(self, kind: str, texts: list[str]) -> list[Embedding]:
        keys = self._keys(kind, texts)
        if keys is None:
            fresh = await self._acompute(kind, list(dict.fromkeys(texts)))
            return [fresh[t] for t in texts]
        found = await self._alookup(keys)
        missing = self._misses(texts, found)
        fresh = await self._acompute(kind, missing) if missing else {}
        if fresh:
            await self._asave(self._entries(texts, keys, fresh))
        return self._assemble(texts, found, fresh)

    # -- BaseEmbedding --------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed("query", [query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aembed("query", [query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed("text", [text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed("text", [text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed("text", texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed("text", texts)
