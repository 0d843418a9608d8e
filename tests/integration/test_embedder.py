"""The packaged all-MiniLM-L6-v2 through SentenceTransformerEmbedder: its fast path for small
batches gives the model's own vectors, and the model is never downloaded."""

from __future__ import annotations

import numpy as np
import pytest
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
