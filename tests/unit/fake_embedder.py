"""An embedder whose similarities the test chooses: no model, exact cosines."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

DIM = 64


def _random_unit(seed_text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big")
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


class MapEmbedder:
    """Vectors by text; `pair(a, b, cos)` makes `b` exactly `cos`-similar to `a`. Unknown
    texts get a random (so nearly orthogonal) unit vector."""

    model_id = "map-embedder"
    dimension = DIM

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}

    def pair(self, a: str, b: str, cos: float) -> None:
        base = self.vectors.setdefault(a, _random_unit(a))
        other = _random_unit(b)
        other = other - float(other @ base) * base
        other /= np.linalg.norm(other)
        self.vectors[b] = (cos * base + math.sqrt(max(0.0, 1 - cos * cos)) * other).astype(
            np.float32
        )

    def encode(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return np.stack([self.vectors.get(t, _random_unit(t)) for t in texts])
