"""The packaged all-MiniLM-L6-v2 through SentenceTransformerEmbedder: its fast path for small
batches gives the model's own vectors, and the model is never downloaded."""

from __future__ import annotations

import numpy as np
import pytest
from tiered_cache import TieredCache
from tiered_cache.embeddings.embedder import _FAST_MAX, SentenceTransformerEmbedder, _fast_path
from tiered_cache.errors import ModelNotFoundError

TEXTS = [
    "How do I reset my password?",
    "",
    "Wie setze ich mein Passwort zurück? 🔑",
    "word " * 400,  # past the model's 256 tokens: truncated alike
    "What is the capital of France?",
]


def test_fast_path_gives_the_models_own_vectors() -> None:
    embedder = SentenceTransformerEmbedder()
    assert _fast_path(embedder._path, "cpu") is not None  # this model's layout qualifies
    model = embedder._model
    expected = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    one_by_one = np.vstack([embedder.encode([t]) for t in TEXTS])
    together = embedder.encode(TEXTS)
    assert one_by_one.dtype == together.dtype == np.float32
    assert np.allclose(one_by_one, expected, atol=1e-5)
    assert np.allclose(together, expected, atol=1e-5)  # padded in one batch
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    many = [f"question number {i}" for i in range(_FAST_MAX + 3)]  # the model's own path
    assert np.allclose(embedder.encode(many)[0], embedder.encode(many[:1])[0], atol=1e-5)
    assert embedder.encode([]).shape[0] == 0


def test_an_unknown_model_is_a_clear_error_not_a_download() -> None:
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        SentenceTransformerEmbedder("some-org/not-a-local-model")


# -- the ONNX encoder ------------------------------------------------------------------------------
@pytest.mark.slow
def test_onnx_runs_the_same_model_as_pytorch() -> None:
    from tiered_cache.embeddings.onnx import OnnxEmbedder

    texts = [
        "What is the capital of France?",
        "a much longer question, with punctuation; and numbers 42, 3.14 - that needs padding",
        "",
        "Ünïcödé ✓ 日本語",
        "word " * 400,  # past the model's 256 tokens: truncated alike
    ]
    onnx, torch = OnnxEmbedder(), SentenceTransformerEmbedder()
    assert onnx.dimension == torch.dimension == 384
    a, b = onnx.encode(texts), torch.encode(texts)
    assert a.shape == b.shape == (5, 384) and a.dtype == np.float32
    assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)


def test_the_default_backend_is_onnx_and_falls_back_to_pytorch_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    from tiered_cache import ConfigurationError
    from tiered_cache.embeddings.onnx import OnnxEmbedder, make_embedder

    assert isinstance(make_embedder(None, "auto"), OnnxEmbedder)
    assert isinstance(make_embedder(None, "torch"), SentenceTransformerEmbedder)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed
    with caplog.at_level("WARNING"):
        assert isinstance(make_embedder(None, "auto"), SentenceTransformerEmbedder)
    assert "ONNX Runtime is not installed" in caplog.text
    with pytest.raises(ModelNotFoundError, match=r"pip install '\.\[embeddings\]' in a clone"):
        make_embedder(None, "onnx")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # neither installed
    with pytest.raises(ModelNotFoundError, match=r"pip install '\.\[embeddings\]' in a clone"):
        make_embedder(None, "auto")
    with pytest.raises(ConfigurationError, match="auto, onnx or torch"):
        TieredCache(embedding_backend="tensorflow")


def test_the_model_loads_in_the_background_once_for_every_cache(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tiered_cache.embeddings import onnx

    monkeypatch.setattr(onnx, "_sessions", {})  # as in a new process
    monkeypatch.setattr(onnx, "_loads", {})
    loads: list[str] = []
    real = onnx._load

    def counted(model_dir: str, quantized: bool) -> object:
        loads.append(model_dir)
        return real(model_dir, quantized)

    monkeypatch.setattr(onnx, "_load", counted)
    with caplog.at_level("INFO", logger="tiered_cache"):
        caches = [TieredCache(embedding_backend="onnx") for _ in range(3)]  # no load: dimension
        assert all(cache.wait_ready(120) for cache in caches)  # from the model's config
    assert len(loads) == 1
    assert (
        sum(
            "embedding model" in r.getMessage() and "loaded in" in r.getMessage()
            for r in caplog.records
        )
        == 1
    )
    first = caches[0]
    first.store(first.request("What is the capital of France?", model="m"), "Paris.")
    hit = first.lookup(first.request("What's the capital city of France?", model="m"))
    assert hit is not None and (hit.payload, hit.tier) == ("Paris.", "semantic")


async def test_await_ready_does_not_block_the_loop() -> None:
    cache = TieredCache()
    assert await cache.await_ready(120)
    assert TieredCache(semantic=False).wait_ready(0)  # no model: ready at once


def test_the_default_model_is_the_graph_shipped_in_the_package() -> None:
    from tiered_cache.embeddings.onnx import SHIPPED, OnnxEmbedder, graph_path

    embedder = OnnxEmbedder()
    assert embedder._dir == str(SHIPPED)  # no model package, no export, no PyTorch
    assert graph_path(embedder._dir) == SHIPPED / "model.onnx"
    assert (SHIPPED / "model.onnx").stat().st_size > 80_000_000  # fp32: int8 did not agree
