"""`python -m training.export_judge_onnx` builds the judge's layers as an ONNX graph that
computes what the NumPy judge computes (before its int8 quantization)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiered_cache.rules import judge as judge_module

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from training.export_judge_onnx import build_graph  # noqa: E402

PAIRS = [
    ("How do I lose 10 kg in a month?", "How do I lose 5 kg in a month?"),
    ("What is the fastest way to learn Python?", "How can I learn Python quickly?"),
    ("Who is the CEO of Google?", "Who is the CFO of Google?"),
    ("Why is the sky blue?", "What makes the sky look blue?"),
]


def test_the_fp32_graph_gives_the_numpy_logits(tmp_path: Path) -> None:
    judge = judge_module.load(precision="fp32")
    path = tmp_path / "judge.onnx"
    onnx.save(build_graph(judge), str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph = judge_module.load(precision="fp32")
    graph._session = session  # the judge's own embeddings, then the graph's layers
    got = [graph.logit(a, b) for a, b in PAIRS]
    np.testing.assert_allclose(got, [judge.logit(a, b) for a, b in PAIRS], rtol=0, atol=1e-4)
